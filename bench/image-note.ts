/**
 * The image's size, kept by hand beside the benchmark figures (the image is not a
 * benchmark). test/deploy/image.process.test.ts measures it on every run and fails when
 * the figures below are more than 15 % off: update them from its report
 * (test-output/image/report.json) with the change that moved them.
 */
export const IMAGE = `## The image

The image built from the Dockerfile by \`test/deploy/image.process.test.ts\` (buildah,
docker format), measured 2026-12-07 on the 2-core CI machine. Sizes are the image's
uncompressed layers, as \`docker images\` and \`buildah images\` show them. The base is the
**stand-in** for \`node:24.22.3-bookworm-slim\` (Debian bookworm from \`debootstrap
--variant=minbase\`, slimmed, with Node 24.22.3, npm 11.19.1, corepack 0.36.0 and yarn
1.22.22 laid out as in the official image: docs/operations.md, "The image, built in CI"),
so the total is not what Docker Hub's base gives; the Dockerfile's own layer is the part
that moves to any base.

| | size |
|---|---|
| the image | 321 MB |
| the stand-in base | 291 MB |
| the Dockerfile's own layer | 30 MB |

The Dockerfile's layer is \`/app\` (\`dist/\`, the Lua scripts, \`package.json\` and the
lock file's 48 production packages) plus the user and the state directories. Removing
npm, npx, corepack and yarn in that layer hides them but saves nothing: they stay in the
base's layer underneath. Before (issue 29), the same build on a Node 20.20.2 stand-in:
316 MB.

| step | time |
|---|---|
| \`debootstrap --variant=minbase bookworm\`, cold (a fresh clone: CI) | 42–85 s |
| the stand-in base image, from the cached Debian | 15–17 s |
| the stand-in, everything cached | 0.1 s |
| \`buildah bud\` of the Dockerfile (npm ci, tsc, npm pack, npm ci --omit=dev), niced beside the suite | 80–84 s |
| the image test in all, warm / cold | 118 s / about 3 min |
`;
