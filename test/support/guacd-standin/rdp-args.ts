/**
 * The `args` reply for `select,rdp`, measured from the real guacd built into /opt/guacd
 * (`guacd -v` → 1.6.0, built without SSH so no sftp-* names). Order matters: `connect` values map
 * onto these positionally, and guacd rejects a `connect` whose count differs.
 */
export const PROTOCOL_VERSION = 'VERSION_1_5_0';

export const RDP_ARG_NAMES: readonly string[] = Object.freeze([
  'hostname', 'port', 'timeout', 'domain', 'username', 'password', 'width', 'height', 'dpi',
  'initial-program', 'color-depth', 'disable-audio', 'enable-printing', 'printer-name',
  'enable-drive', 'drive-name', 'drive-path', 'create-drive-path', 'disable-download',
  'disable-upload', 'console', 'console-audio', 'server-layout', 'security', 'ignore-cert',
  'cert-tofu', 'cert-fingerprints', 'disable-auth', 'remote-app', 'remote-app-dir',
  'remote-app-args', 'static-channels', 'client-name', 'enable-wallpaper', 'enable-theming',
  'enable-font-smoothing', 'enable-full-window-drag', 'enable-desktop-composition',
  'enable-menu-animations', 'disable-bitmap-caching', 'disable-offscreen-caching',
  'disable-glyph-caching', 'disable-gfx', 'preconnection-id', 'preconnection-blob', 'timezone',
  'recording-path', 'recording-name', 'recording-exclude-output', 'recording-exclude-mouse',
  'recording-exclude-touch', 'recording-include-keys', 'create-recording-path',
  'recording-write-existing', 'resize-method', 'enable-audio-input', 'enable-touch', 'read-only',
  'gateway-hostname', 'gateway-port', 'gateway-domain', 'gateway-username', 'gateway-password',
  'load-balance-info', 'disable-copy', 'disable-paste', 'wol-send-packet', 'wol-mac-addr',
  'wol-broadcast-addr', 'wol-udp-port', 'wol-wait-time', 'force-lossless', 'normalize-clipboard',
]);
