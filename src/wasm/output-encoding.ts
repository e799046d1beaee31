// Puts bytes a job produced (stdout, stderr, a string read from memory) into JSON: text when it is UTF-8, else base64.

export interface EncodedBytes {
  value: string;
  /** True when `value` is base64 because the bytes are not valid UTF-8 (or were asked for as bytes). */
  base64: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Text when `asText` and the bytes are UTF-8, else base64. Output `cut` at a byte limit may end inside a
 * character: up to 3 trailing bytes of it are dropped so that the text survives the cut.
 */
export function encodeBytes(bytes: Uint8Array, asText: boolean, cut = false): EncodedBytes {
  for (let drop = 0; asText && drop <= (cut ? 3 : 0) && drop <= bytes.length; drop++) {
    try {
      return { value: utf8.decode(bytes.subarray(0, bytes.length - drop)), base64: false };
    } catch {
      // not UTF-8 (yet): drop one more byte of a cut character, or fall through to base64
    }
  }
  return { value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), base64: true };
}
