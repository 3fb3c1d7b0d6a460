// PostGraphile 5 (amber preset, default settings) over one govshare node database, for ./dev bench.
// Usage: node server.mjs DSN PORT. The only addition to the defaults: resources.provider_code names its
// department (govshare's schema has no foreign key there, PostGraphile needs one to join) and data items
// may be ordered by position (unindexed, so not orderable by default), both as smart tags.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { jsonPgSmartTags } from "postgraphile/utils";

const [dsn, port] = process.argv.slice(2);
const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [jsonPgSmartTags({ version: 1, config: {
    class: { resources: { tags: { foreignKey: "(provider_code) references departments (code)" } } },
    attribute: { "data_items.position": { tags: { behavior: "+orderBy" } } },
  } })],
  pgServices: [makePgService({ connectionString: dsn, schemas: ["public"] })],
  grafserv: { graphiql: false },
};
const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
serv.addTo(server).catch((e) => { console.error(e); process.exit(1); });
server.listen(Number(port), "127.0.0.1", () => console.log(`postgraphile listening on ${port}`));
const stop = () => { server.close(); pgl.release().finally(() => process.exit(0)); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
