"""ONNX export: conversion, the exact graph rewrites (folds, isotonic, float16), check vectors.

Every import in this package is absolute, so `import onnx` here is the onnx library.
"""
