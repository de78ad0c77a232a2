import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';
import cssInjectedByJs from 'vite-plugin-css-injected-by-js';

/**
 * The Dashboard 2.0 widget as Dashboard 2.0 loads third-party widgets: one UMD file in the
 * package's resources/ whose global is the widget's type (`ui-netboot-fleet`), Vue left to the
 * dashboard (external, global `Vue`), the styles injected by the script itself.
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  plugins: [vue(), cssInjectedByJs()],
  define: { 'process.env.NODE_ENV': JSON.stringify('production'), __VUE_OPTIONS_API__: 'true', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
  build: {
    outDir: here('resources'),
    emptyOutDir: true,
    target: 'es2020',
    reportCompressedSize: false,
    lib: {
      entry: here('ui/index.ts'),
      name: 'ui-netboot-fleet',
      formats: ['umd'],
      fileName: () => 'ui-netboot-fleet.umd.js',
    },
    rollupOptions: {
      external: ['vue'],
      output: { globals: { vue: 'Vue' } },
    },
  },
});
