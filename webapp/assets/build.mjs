// Copies the parts of the bpmn-js distribution that the web app serves into
// webapp/static/vendor/bpmn-js/. bpmn-js ships ready-made UMD bundles (global
// `BpmnJS`), so a bundler would only add a build step without adding anything
// we use; the templates load these files with plain <script>/<link> tags.
//
// The output folder is gitignored: it is rebuilt from package-lock.json by
// `npm ci && npm run build` (or `make assets`).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'package.json'));
const pkgDir = dirname(require.resolve('bpmn-js/package.json'));
const dist = join(pkgDir, 'dist');
const out = join(root, 'webapp', 'static', 'vendor', 'bpmn-js');

// Source (relative to bpmn-js/dist) -> destination (relative to `out`).
// bpmn-embedded.css carries the icon font inline as a data: URL, so the
// separate font files are not needed.
const FILES = [
  'bpmn-modeler.production.min.js',
  'bpmn-navigated-viewer.production.min.js',
  'assets/diagram-js.css',
  'assets/bpmn-js.css',
  'assets/bpmn-font/css/bpmn-embedded.css',
];

rmSync(out, { recursive: true, force: true });
for (const file of FILES) {
  const dest = join(out, file.replace(/^assets\//, ''));
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(join(dist, file), dest);
}
cpSync(join(pkgDir, 'LICENSE'), join(out, 'LICENSE'));

const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
writeFileSync(join(out, 'VERSION'), `${version}\n`);
console.log(`bpmn-js ${version}: ${FILES.length} files -> ${relative(root, out)}/`);
