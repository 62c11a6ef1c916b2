"""DCGAN face sampling: the generator, latent-space tools and a look inside the network.

The generator is the transposed-convolution decoder of the segmentation lectures, fed with a
random 100-D vector instead of an encoder's features. Everything here is plain PyTorch/NumPy and
runs without Streamlit; ``pages/4_GAN_faces.py`` only lays widgets over it.
"""
