// Option values as the CLI parses them: what reaches the API, and what is refused as a usage error.
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { collect, collectEnv, parseDuration, parseLimit, parsePort, parseServer, parseSize, toParameter } from '../../src/cli/arguments.js';

describe('parseDuration', () => {
  it('takes ms, s and m, to whole milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
  });

  it('refuses a bare number, an unknown unit and zero', () => {
    for (const text of ['5', '5h', 's', '-1s', '0ms', '0.0001s']) expect(() => parseDuration(text), text).toThrow(InvalidArgumentError);
  });
});

describe('parseServer', () => {
  it('takes http and https URLs, without a trailing slash, keeping a path prefix', () => {
    expect(parseServer('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(parseServer('https://jobs.example.test/dispatcher/')).toBe('https://jobs.example.test/dispatcher');
  });

  it('refuses what is not an http URL', () => {
    for (const text of ['localhost:8080', 'ftp://h/', '']) expect(() => parseServer(text), text).toThrow(InvalidArgumentError);
  });
});

describe('parsePort and parseLimit', () => {
  it('take whole numbers in range only', () => {
    expect(parsePort('0')).toBe('0');
    expect(parsePort('65535')).toBe('65535');
    for (const text of ['65536', '-1', '80.5', 'http']) expect(() => parsePort(text), text).toThrow(InvalidArgumentError);
    expect(parseLimit('10')).toBe(10);
    for (const text of ['0', '-2', '1.5', 'all']) expect(() => parseLimit(text), text).toThrow(InvalidArgumentError);
  });
});

describe('parseSize', () => {
  it('takes bytes, KiB, MiB and GiB', () => {
    expect(parseSize('65536')).toBe(65536);
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize('16MiB')).toBe(16 * 1024 * 1024);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    for (const text of ['16MB', '1.5MiB', 'big', '-1']) expect(() => parseSize(text), text).toThrow(InvalidArgumentError);
  });
});

describe('toParameter', () => {
  it('sends safe integers as numbers and everything else as exact strings', () => {
    expect(toParameter('5')).toBe(5);
    expect(toParameter('-3')).toBe(-3);
    expect(toParameter('9007199254740993')).toBe('9007199254740993');
    expect(toParameter('2.5')).toBe('2.5');
    expect(toParameter('nan')).toBe('nan');
    expect(toParameter('0x1F')).toBe('0x1F');
  });

  it('collects repeated values in order', () => {
    expect(collect('3', collect('2', undefined))).toEqual(['2', '3']);
  });
});

describe('collectEnv', () => {
  it('splits NAME=value at the first =, keeps empty values and order, and refuses a missing name', () => {
    expect(collectEnv('B=x=y', collectEnv('A=', undefined))).toEqual([['A', ''], ['B', 'x=y']]);
    for (const bad of ['=x', 'NOVALUE', '']) expect(() => collectEnv(bad, undefined), bad).toThrow(InvalidArgumentError);
  });
});
