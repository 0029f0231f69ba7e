// The published names of the project's two images, one scheme for the build scripts, the tests,
// `make demo` and the docs:
//   images.pasv.dev/pasv-operator:<appVersion>    images.pasv.dev/ftp-server:<appVersion>
// appVersion is the chart's (charts/pasv-operator/Chart.yaml), the one source of truth; the shell
// side (test/images/lib.sh) and the Makefile (test/images/images.mk) read the same line.
// images.pasv.dev is the project's registry path, not a host these tests reach: images are built
// offline and imported into the node's containerd under these names (docs/release.md pushes them).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
export const IMAGE_REGISTRY = process.env.PASV_IMAGE_REGISTRY ?? "images.pasv.dev";

/** The chart's appVersion, the tag of both images. */
export function appVersion(chartYaml = readFileSync(join(ROOT, "charts/pasv-operator/Chart.yaml"), "utf8")): string {
  const m = /^appVersion:\s*["']?([^"'\s#]+)["']?\s*(?:#.*)?$/m.exec(chartYaml);
  if (!m?.[1]) throw new Error("charts/pasv-operator/Chart.yaml has no appVersion");
  return m[1];
}

export function serverImage(tag = appVersion()): string {
  return `${IMAGE_REGISTRY}/ftp-server:${tag}`;
}

export function operatorImage(tag = appVersion()): string {
  return `${IMAGE_REGISTRY}/pasv-operator:${tag}`;
}
