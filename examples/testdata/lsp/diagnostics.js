// Opens YAML files in yaml-language-server (the language server behind
// VS Code's YAML extension) over LSP on stdio and prints, as JSON, the
// diagnostics it publishes for each: {"/abs/file.yaml": [{"line": 1,
// "message": "…"}]} (lines 1-based). Used by examples/editor_test.go.
//
// usage: node diagnostics.js SERVER_JS FILE...
// It waits until every file has diagnostics and none has changed for a
// while, and gives up after a bound; it never waits for ever.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');

const [serverJS, ...files] = process.argv.slice(2);
const SETTLE_MS = 2000;
const LIMIT_MS = 90000;
const settings = { yaml: { validate: true, hover: true, completion: true, schemaStore: { enable: false } } };

const srv = spawn(process.execPath, [serverJS, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
const diags = new Map();
let last = Date.now();
let buf = Buffer.alloc(0);

function send(msg) {
  const s = JSON.stringify(Object.assign({ jsonrpc: '2.0' }, msg));
  srv.stdin.write(`Content-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
}

function handle(m) {
  if (m.method === 'workspace/configuration') {
    send({ id: m.id, result: m.params.items.map((i) => (i.section === 'yaml' ? settings.yaml : null)) });
  } else if (m.method !== undefined && m.id !== undefined) {
    send({ id: m.id, result: null }); // other server requests: nothing to add
  } else if (m.method === 'textDocument/publishDiagnostics') {
    diags.set(m.params.uri, m.params.diagnostics);
    last = Date.now();
  } else if (m.id === 1) {
    send({ method: 'initialized', params: {} });
    send({ method: 'workspace/didChangeConfiguration', params: { settings } });
    for (const f of files) {
      send({ method: 'textDocument/didOpen', params: { textDocument: { uri: 'file://' + f, languageId: 'yaml', version: 1, text: fs.readFileSync(f, 'utf8') } } });
    }
  }
}

srv.stdout.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    const h = buf.indexOf('\r\n\r\n');
    if (h < 0) return;
    const len = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, h).toString())[1]);
    if (buf.length < h + 4 + len) return;
    const m = JSON.parse(buf.subarray(h + 4, h + 4 + len).toString());
    buf = buf.subarray(h + 4 + len);
    handle(m);
  }
});

function finish(code) {
  const out = {};
  for (const f of files) {
    const d = diags.get('file://' + f);
    out[f] = d === undefined ? null : d.map((x) => ({ line: x.range.start.line + 1, message: x.message }));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  srv.kill();
  process.exit(code);
}

send({ id: 1, method: 'initialize', params: { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } } } });
const start = Date.now();
const timer = setInterval(() => {
  const all = files.every((f) => diags.has('file://' + f));
  if (all && Date.now() - last > SETTLE_MS) {
    clearInterval(timer);
    finish(0);
  } else if (Date.now() - start > LIMIT_MS) {
    clearInterval(timer);
    finish(2);
  }
}, 200);
srv.on('exit', (code) => {
  if (code !== null && code !== 0) {
    process.stderr.write(`yaml-language-server exited with ${code}\n`);
    finish(3);
  }
});
