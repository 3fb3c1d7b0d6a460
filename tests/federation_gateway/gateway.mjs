// A federation gateway over live subgraphs: @graphql-hive/gateway-runtime (MIT) on a supergraph that
// @theguild/federation-composition composes from each subgraph's `_service { sdl }` (what Apollo's
// IntrospectAndCompose does). The caller's Authorization, X-Govshare-Purpose and X-Request-Id reach
// every subgraph: govshare decides and audits as the caller, never as the gateway.
//   node gateway.mjs PORT name=URL [name=URL ...]      (GATEWAY_TOKEN: bearer token to read the SDLs)
import { createServer } from 'node:http';
import { parse } from 'graphql';
import { composeServices } from '@theguild/federation-composition';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';

const [port, ...subgraphs] = process.argv.slice(2);
const services = [];
for (const spec of subgraphs) {
  const [name, url] = spec.split('=');
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.GATEWAY_TOKEN ?? ''}` },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await response.json();
  if (!body.data) throw new Error(`${name}: no SDL: ${JSON.stringify(body)}`);
  services.push({ name, url, typeDefs: parse(body.data._service.sdl) });
}
const composed = composeServices(services);
if (composed.errors?.length) {
  console.error(composed.errors.map((e) => e.message).join('\n'));
  process.exit(1);
}
const FORWARDED = ['authorization', 'x-govshare-purpose', 'x-request-id', 'accept-language'];
const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const headers = {};
      for (const name of FORWARDED) {
        const value = request.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      return headers;
    },
  },
  logging: 'error',
  landingPage: false,
  graphiql: false,
});
// Exit at once on SIGTERM: the tests stop it between runs (no in-flight work worth draining).
process.on('SIGTERM', () => process.exit(0));
createServer(gateway).listen(Number(port), '127.0.0.1', () => console.log('ready'));
