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

"""The traced networks the stream runs: exactly the modules' outputs, for any batch and length."""

import pytest
from ser_ros.core.model import BiLSTMClassifier, ModelConfig
from ser_ros.core.traced import traced
from ser_ros.core.vad import silero_graph, silero_initial_state, silero_network
import torch

SMALL = {'n_features': 6, 'n_labels': 4, 'hidden_size': 8, 'num_layers': 1,
         'conv_channels': 8, 'dropout': 0.1, 'frame_norm': False}


@pytest.mark.parametrize('heads', [{}, {'statistics_head': 0.2, 'encoder_head': 0.5,
                                        'encoder_width': 5}])
def test_the_traced_bilstm_equals_the_module_for_any_batch_and_length(heads):
    torch.manual_seed(0)
    model = BiLSTMClassifier(ModelConfig(**SMALL, **heads)).eval()
    width = heads.get('encoder_width')

    def inputs(batch, frames):
        return (torch.randn(batch, frames, 6),) + ((torch.randn(batch, width),) if width else ())

    graph = traced(model, *inputs(1, 200))
    with torch.inference_mode():
        for batch, frames in ((1, 200), (3, 200), (2, 37), (1, 3)):
            example = inputs(batch, frames)
            assert torch.equal(graph(*example), model(*example))
        # The weights are the module's, not a copy: the graph follows a change.
        model.head[-1].bias.add_(1.0)
        assert torch.equal(graph(*example), model(*example))


def test_the_traced_silero_network_equals_the_module_hop_after_hop():
    network, graph = silero_network(), silero_graph()
    generator = torch.Generator().manual_seed(0)
    module_state = graph_state = silero_initial_state()
    with torch.inference_mode():
        for blocks in (16, 1, 5, 40):
            audio = 0.1 * torch.randn(blocks, 576, generator=generator)
            expected, module_state = network(audio, module_state)
            got, graph_state = graph(audio, graph_state)
            assert torch.equal(got, expected)
            assert all(torch.equal(g, m) for g, m in zip(graph_state, module_state))
