/** The widget's UMD library (global `ui-netboot-fleet`, as Dashboard 2.0 loads it): one component. */
export { default as UINetbootFleet } from './UINetbootFleet.vue';
