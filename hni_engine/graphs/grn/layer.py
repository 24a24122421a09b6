"""The GRN's message-passing layer: `SCGConv`, VRX eq. 3 as a torch-geometric `MessagePassing`."""

from __future__ import annotations

import warnings
from typing import cast

import torch
from torch import Tensor, nn

# torch_geometric calls the deprecated torch.jit.script at import; users cannot act on that warning.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

from torch_geometric.nn import MessagePassing  # noqa: E402

__all__ = ["SCGConv"]


class SCGConv(MessagePassing):  # type: ignore[misc]  # torch_geometric has no type information
    r"""The structural concept graph convolution of VRX (eq. 3), with class-specific edge weights.

    .. math::
        \mathbf{f}^{\prime}_i = \mathbf{W}_1 \mathbf{f}_i + \sum_{j \in \mathcal{N}(i)}
        \mathbf{W}_3 \, e_{t(j,i)} \left[ \mathbf{W}_2 \mathbf{f}_j \,\Vert\, \mathbf{edge}_{j,i} \right],
        \qquad \mathbf{edge}^{\prime}_{j,i} = \mathbf{W}_4 \mathbf{edge}_{j,i}

    where :math:`e_t` is a trainable scalar per edge type :math:`t` (in the GRN: one type per class graph
    edge), initialised to 1. It scales the whole message, edge features included (VRX scales the
    neighbour's part only): with :math:`e_t = 0` the edge takes no part at all, so its weight says how much
    it is used, and the edge-drop test (graphs.edge_evidence) is setting it to 0. Aggregation is a sum.
    Only :math:`\mathbf{W}_1` and :math:`\mathbf{W}_4` have a bias: :math:`\mathbf{W}_2` has none so
    that :math:`e` scales a linear function of the neighbour, and
    :math:`\mathbf{W}_3` has none because a bias per message would add a degree-dependent offset.
    :math:`\mathbf{W}_2 \mathbf{f}` is computed once per node, not once per edge.

    With ``edge_in_channels=0`` the edge part is disabled and the layer is :class:`GraphConv` with
    :math:`\mathbf{W}_{rel} = \mathbf{W}_3 \mathbf{W}_2` and :math:`e` as edge weights.

    Args:
        in_channels (int): Size of each input node feature.
        out_channels (int): Size of each output node feature.
        edge_in_channels (int): Size of each input edge feature (0: no edge features).
        edge_out_channels (int): Size of each output edge feature (0: edge features are not updated and
            the layer returns ``None`` for them).
        num_edge_types (int, optional): Number of trainable edge weights :math:`e_t`. (default: :obj:`1`)
        edge_scale (torch.nn.Parameter, optional): Use this existing parameter of shape
            :obj:`(num_edge_types,)` as :math:`e` (ties it across layers, as the GRN does) instead of
            creating one. (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices :math:`(2, |\mathcal{E}|)`
          (source, target), edge features :math:`(|\mathcal{E}|, D_{in})` *(optional)*, edge types
          :math:`(|\mathcal{E}|)` *(optional, default all 0)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`, edge features
          :math:`(|\mathcal{E}|, D_{out})` or :obj:`None`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        edge_in_channels: int,
        edge_out_channels: int,
        num_edge_types: int = 1,
        edge_scale: nn.Parameter | None = None,
    ):
        super().__init__(aggr="add")
        if edge_in_channels == 0 and edge_out_channels:
            raise ValueError(f"edge_out_channels must be 0 without edge features (got {edge_out_channels})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.edge_in_channels, self.edge_out_channels = edge_in_channels, edge_out_channels
        self.lin_root = nn.Linear(in_channels, out_channels)  # W1
        self.lin_nbr = nn.Linear(in_channels, out_channels, bias=False)  # W2
        self.lin_msg = nn.Linear(out_channels + edge_in_channels, out_channels, bias=False)  # W3
        self.lin_edge = nn.Linear(edge_in_channels, edge_out_channels) if edge_out_channels else None  # W4
        if edge_scale is None:
            edge_scale = nn.Parameter(torch.ones(num_edge_types))
        elif edge_scale.shape != (num_edge_types,):
            raise ValueError(f"edge_scale must have shape ({num_edge_types},) (got {tuple(edge_scale.shape)})")
        self.edge_scale = edge_scale
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_root.reset_parameters()
        self.lin_nbr.reset_parameters()
        self.lin_msg.reset_parameters()
        if self.lin_edge is not None:
            self.lin_edge.reset_parameters()
        with torch.no_grad():
            self.edge_scale.fill_(1.0)

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None, edge_type: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        if (edge_attr is None) != (self.edge_in_channels == 0):
            raise ValueError(
                f"edge_attr must be given exactly when edge_in_channels > 0 (edge_in_channels={self.edge_in_channels})"
            )
        if edge_type is None:
            edge_type = edge_index.new_zeros(edge_index.shape[1])
        out = self.propagate(edge_index, x=self.lin_nbr(x), edge_attr=edge_attr, edge_type=edge_type)
        out = out + self.lin_root(x)
        edge_out = self.lin_edge(edge_attr) if self.lin_edge is not None and edge_attr is not None else None
        return out, edge_out

    def message(self, x_j: Tensor, edge_attr: Tensor | None, edge_type: Tensor) -> Tensor:
        message = x_j if edge_attr is None else torch.cat([x_j, edge_attr], dim=1)  # (E, F_out [+ D_in])
        scaled = self.edge_scale[edge_type].unsqueeze(1) * message  # e * [W2 f_j || edge_ji]
        return cast(Tensor, self.lin_msg(scaled))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"edge={self.edge_in_channels}->{self.edge_out_channels}, types={self.edge_scale.numel()})"
        )
