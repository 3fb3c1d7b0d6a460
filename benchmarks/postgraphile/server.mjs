// PostGraphile 5 (amber preset, default settings) over one govshare node database, for ./dev bench.
// Usage: node server.mjs DSN PORT [WORKERS]. WORKERS > 1: Node's own cluster module forks that many
// processes sharing the port (the primary hands out connections round-robin), PostGraphile's way to use
// more than one core; the primary only supervises. The only addition to the defaults: resources.provider_code names its
// department (govshare's schema has no foreign key there, PostGraphile needs one to join) and data items
// may be ordered by position (unindexed, so not orderable by default), both as smart tags.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { jsonPgSmartTags } from "postgraphile/utils";

const [dsn, port, workers = "1"] = process.argv.slice(2);
if (Number(workers) > 1 && cluster.isPrimary) {
  let alive = Number(workers);
  cluster.on("exit", () => { if (--alive === 0) process.exit(0); });
  for (let i = 0; i < Number(workers); i++) cluster.fork();
  const stopAll = () => { for (const worker of Object.values(cluster.workers)) worker.process.kill("SIGTERM"); };
  process.on("SIGTERM", stopAll);
  process.on("SIGINT", stopAll);
} else {
  serve();
}

function serve() {
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
}
