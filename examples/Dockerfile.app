# An image with your application in the app base: every member of a SessionCluster that runs it
# serves the application (docs/applications.md). Build from your application's directory, which
# holds its package.json, its entry and its node_modules (npm ci --omit=dev first), or a .tgz:
#   podman build -f Dockerfile.app --build-arg APP=shop -t shop:1.0 .
# and set the SessionCluster's spec.image to it. The demo application stays unless you remove it
# (RUN rm -rf /apps/demo needs USER root first) or point CATTERY_APPS_DIR elsewhere.
ARG CATTERY_IMAGE=cattery-node:0.1.0
FROM ${CATTERY_IMAGE}
# The directory name is the context name: shop → /shop, ROOT → /, shop#v2 → /shop/v2.
ARG APP=shop
COPY . /apps/${APP}
