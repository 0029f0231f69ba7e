// The release this operator is, and the FTP-server image that belongs to it. The chart's appVersion
// (charts/pasv-operator/Chart.yaml) is the source of truth: the chart passes its own
// --ftp-server-image; this default serves runs without the chart (`node operator/src/main.ts`), and
// test/unit/operator/flags.test.ts fails when it drifts from the chart. docs/release.md.
export const VERSION = "0.1.0";
/** The project's registry path for both images (test/images/names.ts builds and imports under it). */
export const IMAGE_REGISTRY = "images.pasv.dev";
/** FtpServers without spec.image run this (or --ftp-server-image / $PASV_FTP_SERVER_IMAGE). */
export const DEFAULT_FTP_SERVER_IMAGE = `${IMAGE_REGISTRY}/ftp-server:${VERSION}`;
