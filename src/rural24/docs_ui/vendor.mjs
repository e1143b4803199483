// Copies the pinned Scalar bundle (MIT; the package ships no licence file, VERSION names it) from node_modules into static/, the folder
// the app serves at /schema/assets. Run after `npm ci`; the Dockerfile does the same.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "node_modules", "@scalar", "api-reference");
const target = join(here, "static");
const { version, license } = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));

mkdirSync(target, { recursive: true });
copyFileSync(join(source, "dist", "browser", "standalone.js"), join(target, "scalar-api-reference.js"));
writeFileSync(join(target, "VERSION"), `@scalar/api-reference ${version} (${license})\n`);
console.log(`docs UI: @scalar/api-reference ${version} -> ${target}`);
