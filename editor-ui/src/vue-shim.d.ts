// Vue single-file components, as TypeScript sees them outside Vite (npm run typecheck, the component tests)
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<Record<string, unknown>, Record<string, unknown>, unknown>;
  export default component;
}
