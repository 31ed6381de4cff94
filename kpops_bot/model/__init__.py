"""Values every layer shares, with no behaviour beyond their own: renders and their kinds, the forge interface and
its values, policy options. Nothing here imports a package above it, so cores, engine and edges can all use them."""
