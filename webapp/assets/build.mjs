// Copies the parts of the bpmn-js distribution that the web app serves into
// webapp/static/vendor/bpmn-js/, and ECharts' prebuilt "common" bundle (bar,
// line and pie charts; global `echarts`) into webapp/static/vendor/echarts/
// for the month report's charts. bpmn-js ships ready-made UMD bundles (global
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

// ECharts: the UMD "common" build is all the month report draws (bars, lines).
const echartsDir = dirname(require.resolve('echarts/package.json'));
const echartsOut = join(root, 'webapp', 'static', 'vendor', 'echarts');
rmSync(echartsOut, { recursive: true, force: true });
mkdirSync(echartsOut, { recursive: true });
cpSync(join(echartsDir, 'dist', 'echarts.common.min.js'), join(echartsOut, 'echarts.common.min.js'));
cpSync(join(echartsDir, 'LICENSE'), join(echartsOut, 'LICENSE'));
const echartsVersion = JSON.parse(readFileSync(join(echartsDir, 'package.json'), 'utf8')).version;
writeFileSync(join(echartsOut, 'VERSION'), `${echartsVersion}\n`);
console.log(`echarts ${echartsVersion}: echarts.common.min.js -> ${relative(root, echartsOut)}/`);

// The studio: bpmn-js Modeler + properties panel + our provider, bundled by esbuild.
const studioOut = join(root, 'webapp', 'static', 'vendor', 'studio');
rmSync(studioOut, { recursive: true, force: true });
mkdirSync(studioOut, { recursive: true });
const esbuild = require('esbuild');
const compileConfig = require('bpmnlint/lib/support/compile-config');

// What bpmnlint-loader does for webpack: `import lintConfig from '.bpmnlintrc'` becomes a module exporting
// { config, resolver } with every enabled rule imported, so the rules run in the browser.
const bpmnlintPlugin = {
  name: 'bpmnlint',
  setup(build) {
    build.onResolve({ filter: /\.bpmnlintrc$/ }, (args) => ({ path: join(args.resolveDir, args.path), namespace: 'bpmnlint' }));
    build.onLoad({ filter: /.*/, namespace: 'bpmnlint' }, async (args) => {
      const config = JSON.parse(readFileSync(args.path, 'utf8'));
      delete config['//'];  // our explanation of each rule switched off
      return { contents: await compileConfig(config), loader: 'js', resolveDir: root };
    });
  },
};
await esbuild.build({
  entryPoints: [join(root, 'webapp', 'assets', 'studio', 'index.js')],
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2020'],
  legalComments: 'linked',
  outfile: join(studioOut, 'studio.js'),  // and studio.css: the lint and token simulation styles it imports
  logLevel: 'warning',
  plugins: [bpmnlintPlugin],
});
const panelDir = dirname(require.resolve('@bpmn-io/properties-panel/package.json'));
cpSync(join(panelDir, 'dist', 'assets', 'properties-panel.css'), join(studioOut, 'properties-panel.css'));
console.log(`studio: webapp/assets/studio/index.js -> ${relative(root, studioOut)}/studio.js`);
