/** Renderers: iPXE scripts, Raspberry Pi config.txt/cmdline.txt, iSCSI names and URIs, templates. */
export * from './ipxe-safe';
export * from './ipxe-validate';
export * from './ipxe';
export * from './iscsi';
export * from './template';
export * from './pi';
export * from './network-config';
export * from './winpe';
export * from './grub';
