"""Data: manifests, dataset specs, decoding, sampling, transforms, mixing, faces."""
