# Copyright 2026 The ser_ros authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
The networks the stream runs every hop, traced: the same operations without Python between them.

The BiLSTM of a window and the Silero network of a hop are small: on one thread about a quarter
of their time is spent in Python between torch's operations (module calls, hooks, argument
parsing), not in the operations. A traced module (``torch.jit.trace``) runs the recorded
operations from C++: the same kernels on the same weights (shared with the module, not
copied), so its outputs equal the module's exactly (tested), whatever the batch and the
number of frames, as long as the module's Python does not branch on them.
"""

import warnings

import torch
from torch import nn


def traced(module: nn.Module,
           *example: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    """
    Return ``module`` traced on ``example``, for inference.

    Parameters
    ----------
    module : torch.nn.Module
        In evaluation mode; its forward must not branch on the values or shapes of its inputs
        (only on its own configuration).
    *example : torch.Tensor or tuple of torch.Tensor
        Inputs of one call; the traced module takes the same arguments, of any batch and
        length.

    Returns
    -------
    torch.jit.ScriptModule
        Call it under ``torch.inference_mode()`` or ``torch.no_grad()``.

    """
    with warnings.catch_warnings(), torch.inference_mode():
        # torch 2.13 marks torch.jit deprecated in favour of torch.compile and torch.export,
        # which compile with a C++ toolchain at start-up (seconds, and a compiler on the
        # robot); it still ships and runs tracing.
        warnings.simplefilter('ignore', DeprecationWarning)
        # nn.LSTM checks the input's width and the state's shape in Python; the trace keeps
        # each check's outcome, and warns so. Both are fixed by the module, not by the batch
        # or the number of frames.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        return torch.jit.trace(module, example, check_trace=False)
