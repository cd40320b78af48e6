// The public site: renders the product list it gets from the API (reached as http://api:8080,
// the compose service name, on Dokku too).
const http = require("node:http");

const port = Number(process.env.PORT || 3000);
const apiUrl = process.env.API_URL || "http://localhost:8080";

async function products() {
  const res = await fetch(`${apiUrl}/products`);
  if (!res.ok) throw new Error(`api answered ${res.status}`);
  return res.json();
}

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

http
  .createServer(async (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200).end("ok");
      return;
    }
    try {
      const items = await products();
      const list = items.map((p) => `<li>${escape(p.name)}: ${escape(p.price)}</li>`).join("");
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><title>ACME</title><h1>ACME products</h1><ul>${list}</ul>`);
    } catch (err) {
      res.writeHead(502, { "content-type": "text/plain" }).end(`api unavailable: ${err.message}`);
    }
  })
  .listen(port, () => console.log(`frontend listening on :${port}`));
