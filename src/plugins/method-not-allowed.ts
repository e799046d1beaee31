// A known path asked with a method it does not take answers 405 with Allow (RFC 9110 §15.5.6), not 404.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { toProblem } from '../errors.js';

interface Path {
  methods: Set<string>;
  /** The first route's config (auth, rateLimit): a wrong method on an open path is open too. */
  config: RouteOptions['config'];
}

/**
 * Records every route as it is registered; the function it returns, called once every route is, adds one hidden
 * route per path for the methods no route of that path takes. Its answer comes from an onRequest hook of its
 * own, after the app's (authentication, rate limit), and before the body is parsed, so a body the path would
 * refuse (a wrong content type, bad JSON) does not turn the 405 into a 400 or a 415.
 */
export function methodNotAllowed(app: FastifyInstance): () => void {
  const paths = new Map<string, Path>();
  let done = false;
  app.addHook('onRoute', (route) => {
    if (done) return;
    const path = paths.get(route.url) ?? { methods: new Set<string>(), config: route.config };
    for (const method of [route.method].flat()) path.methods.add(method);
    paths.set(route.url, path);
  });
  return () => {
    done = true;
    for (const [url, { methods, config }] of paths) {
      const others = app.supportedMethods.filter((method) => !methods.has(method));
      if (others.length === 0) continue;
      const allow = [...methods].sort().join(', ');
      const refuse = (request: FastifyRequest, reply: FastifyReply, _done: () => void): void => {
        const problem = toProblem('WASM64_METHOD_NOT_ALLOWED', `${url} takes ${allow}, not ${request.method}`, request.url);
        void reply.code(405).header('allow', allow).type('application/problem+json').send(problem);
      };
      app.route({
        method: others,
        url,
        ...(config === undefined ? {} : { config }),
        schema: { hide: true },
        exposeHeadRoute: false,
        onRequest: refuse,
        handler: () => undefined,
      });
    }
  };
}
