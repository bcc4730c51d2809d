"""Street photo -> stock-quality catalogue image (two-stage GAN).

Kept import-free on purpose: importing ``imagegen`` must not pull in torch or
mediapipe, so light callers (the web process validating uploads with
``imagegen.images``) stay fast. Import the submodules you need directly.
"""
