import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

/**
 * The browser parts, built into ../resources/ (served by Node-RED without auth at
 * /resources/@netboot/node-red-netboot/): `sidebar.js` (the editor's Netboot tab, loaded as a
 * module by the plugin's .html) and `fleet.html` + `fleet.js` (the full page at /netboot/). Both
 * share one Vue chunk. Relative base: the files work wherever Node-RED mounts its admin root.
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  plugins: [vue()],
  define: { __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
  build: {
    outDir: here('../resources'),
    emptyOutDir: false,
    target: 'es2020',
    modulePreload: false,
    reportCompressedSize: false,
    // one stylesheet for both entries: the sidebar (a JS entry) links it itself
    cssCodeSplit: false,
    rollupOptions: {
      // keep sidebar.js's exports (mount, t): the plugin's .html calls them
      preserveEntrySignatures: 'exports-only',
      input: { sidebar: here('src/sidebar.ts'), fleet: here('fleet.html') },
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
        assetFileNames: (a) => (a.names?.[0]?.endsWith('.css') ? 'netboot.css' : 'assets/[name]-[hash][extname]'),
      },
    },
  },
});
