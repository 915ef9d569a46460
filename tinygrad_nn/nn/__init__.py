"""Neural-network building blocks, written only against the public Tensor API.

    from tinygrad_nn import nn
    model = nn.Sequential(nn.Dense(2, 8), nn.ReLU(), nn.Dense(8, 1))
    loss = nn.BCEWithLogitsLoss()(model(x), y)
"""
from .conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from .embedding import Embedding
from .layers import (Dense, Dropout, Identity, LeakyReLU, Linear, ModuleList, ReLU, Sequential,
                     Sigmoid, Softmax, Tanh)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss
from .module import IncompatibleKeys, Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .attention import MultiheadAttention
from .transformer import TransformerEncoder, TransformerEncoderLayer
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from . import utils

__all__ = ["Module", "Parameter", "IncompatibleKeys", "Dense", "Linear", "Sequential", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Identity", "Dropout", "MSELoss",
           "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "ModuleList",
           "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "Conv2d", "MaxPool2d",
           "AvgPool2d", "Flatten", "utils", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM",
           "GRU", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]
