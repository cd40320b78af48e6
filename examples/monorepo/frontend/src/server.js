// The public site. GET / answers in JSON whether the API (reached as http://api:8080, the
// compose service name, on Dokku too) answers, with the API's own report on the database,
// redis, the workers and the scheduler, and the product list it serves; GET /healthz is the
// liveness check.
const http = require("node:http");

const port = Number(process.env.PORT || 3000);
const apiUrl = process.env.API_URL || "http://localhost:8080";

async function getJson(path) {
  const res = await fetch(`${apiUrl}${path}`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`api answered ${res.status} to ${path}`);
  return res.json();
}

async function report() {
  const checks = {};
  let products = [];
  try {
    const [api, items] = await Promise.all([getJson("/"), getJson("/products")]);
    checks.api = { ok: true, detail: `${apiUrl} answered` };
    Object.assign(checks, api.checks || {});
    products = items;
  } catch (err) {
    checks.api = { ok: false, detail: `${apiUrl}: ${err.message}` };
  }
  const ok = Object.values(checks).every((c) => c.ok === true);
  return { service: "frontend", ok, checks, products };
}

http
  .createServer(async (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200).end("ok");
      return;
    }
    const body = JSON.stringify(await report());
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  })
  .listen(port, () => console.log(`frontend listening on :${port}`));
