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
``ser-bag``: make labelled audio bags, replay them, record /emotion, and score the stream.

    ser-bag make runs/eval.bag --corpus ravdess:../shared/data/ravdess --speakers ravdess:24
    ser-bag replay runs/eval.bag [--rate 1.0] [--start-offset 0] [--loop]
    ser-bag record runs/emotion.bag                     # until Ctrl-C
    ser-bag score runs/eval.bag --recording runs/emotion.bag   # a live run's /emotion
    ser-bag score runs/eval.bag --offline               # the core over the bag, no ROS
    ser-bag evaluate runs/eval.bag                      # node live + offline, side by side
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
from ser_ros.core.bundle import load_bundle
from ser_ros.core.errors import run_cli, SerError
from ser_ros.core.recognizer import limit_threads, StreamingRecognizer
from ser_ros.resources import default_model_path
from ser_ros.tools.bags import check_bag, read_published, read_truth, run_offline, write_bag
from ser_ros.tools.scoring import estimates_as_published, plot_timeline, score_stream, score_table
from ser_ros.tools.stream_format import add_format_arguments, format_from_arguments
from ser_ros.tools.streams import compose_stream, corpus_items, plan_turns
from ser_ros.training.calibration import plot_reliability
from ser_ros.training.corpora import parse_corpus


def make(args):
    """Build a bag from labelled recordings of the chosen speakers."""
    if os.path.exists(args.bag):
        raise SerError(f'{args.bag} exists: bags are never overwritten')
    bundle = load_bundle(args.model)
    items = corpus_items(args.corpus, bundle.labels, bundle.metadata.get('label_map', {}),
                         args.speakers)
    if not items:
        raise SerError("no recordings of those speakers with the model's labels")
    generator = np.random.default_rng(args.seed)
    ordered = plan_turns(items, generator)[:args.max_utterances or None]
    audio_format = format_from_arguments(args)
    signal, segments = compose_stream(ordered, audio_format.sample_rate, generator,
                                      snr_db=args.snr_db)
    write_bag(args.bag, signal, segments, audio_format, args.chunk_ms / 1000, args.storage,
              stamped=True)
    print(f'{args.bag}: {len(segments)} utterances of {len({i[2] for i in ordered})} speakers, '
          f'{len(signal) / audio_format.sample_rate / 60:.1f} min, {audio_format.coding_format}')
    return 0


def replay(args):
    """Publish a bag onto its topics."""
    check_bag(args.bag)
    import rclpy
    from ser_ros.ros.bag_live import BagPlayer
    rclpy.init()
    node = rclpy.create_node('ser_bag_player')
    try:
        count = BagPlayer(node, args.bag, args.topics).play(args.rate, args.start_offset,
                                                            args.loop)
        print(f'{count} messages published')
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def record(args):
    """Record /emotion and /emotion/raw into a bag until interrupted."""
    import rclpy
    from ser_ros.ros.bag_live import EmotionRecorder
    rclpy.init()
    node = rclpy.create_node('ser_bag_recorder')
    recorder = EmotionRecorder(node, args.output, storage=args.storage)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        recorder.close()
        print(f'{recorder.count} messages recorded into {args.output}')
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def offline_streams(bag, model_path):
    """Return [(name, published)] of the core run over the bag: smoothed and raw."""
    bundle = load_bundle(model_path)
    estimates = run_offline(bag, StreamingRecognizer(bundle))
    return [('offline smoothed', estimates_as_published(estimates, bundle.labels)),
            ('offline raw', estimates_as_published(estimates, bundle.labels, smoothed=False))]


def recorded_streams(recording, name='live'):
    """Return [(name, published)] of a recorded /emotion and /emotion/raw."""
    return [(f'{name} smoothed', read_published(recording, '/emotion')),
            (f'{name} raw', read_published(recording, '/emotion/raw'))]


def report(bag, streams, output_dir, as_json):
    """Score every stream, print the table; plot the timeline and the reliability diagram."""
    segments = read_truth(bag)
    scores = [(name, score_stream(published, segments)) for name, published in streams]
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        title = os.path.basename(os.path.normpath(bag))
        plot_timeline(segments, streams, os.path.join(output_dir, 'timeline.png'), title)
        plot_reliability(scores, os.path.join(output_dir, 'reliability.png'), title)
        with open(os.path.join(output_dir, 'scores.json'), 'w') as stream:
            json.dump(dict(scores), stream, indent=1)
    print(json.dumps(dict(scores), indent=1) if as_json else score_table(scores))
    return scores


def score(args):
    """Score a recorded run, or the offline run of the core, against the bag's truth."""
    check_bag(args.bag)
    streams = []
    if args.recording:
        streams += recorded_streams(check_bag(args.recording))
    if args.offline or not args.recording:
        streams += offline_streams(args.bag, args.model)
    report(args.bag, streams, args.output_dir, args.json)
    return 0


def evaluate(args):
    """Run the node live on the bag, record, and score live and offline side by side."""
    check_bag(args.bag)
    from ser_ros.ros.bag_live import run_live
    recording = args.recording or os.path.join(tempfile.mkdtemp(prefix='ser_bag_'), 'emotion')
    node_parameters = {'dwell_s': args.dwell_s} if args.dwell_s is not None else {}
    count = run_live(args.bag, recording, args.model, args.rate, node_parameters=node_parameters)
    print(f'live: {count} messages recorded into {recording}')
    streams = recorded_streams(recording) + offline_streams(args.bag, args.model)
    report(args.bag, streams, args.output_dir, args.json)
    return 0


def run(argv=None):
    """Parse the command line and run one ``ser-bag`` verb."""
    parser = argparse.ArgumentParser(prog='ser-bag', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n')[1])
    parser.add_argument('--threads', type=int, default=1, help='torch and BLAS threads')
    commands = parser.add_subparsers(dest='command', required=True)

    maker = commands.add_parser('make', help='build a labelled bag from recordings')
    maker.add_argument('bag', help='bag folder to create')
    maker.add_argument('--corpus', action='append', type=parse_corpus, required=True,
                       help='kind:path (repeatable), e.g. ravdess:../shared/data/ravdess')
    maker.add_argument('--speakers', nargs='+', help='only these speakers (corpus:id)')
    maker.add_argument('--max-utterances', type=int, default=0, help='0: all')
    maker.add_argument('--snr-db', type=float, help='background noise level (default: none)')
    maker.add_argument('--storage', choices=['sqlite3', 'mcap'], default='sqlite3')
    maker.add_argument('--seed', type=int, default=0)
    maker.add_argument('--model', default=default_model_path(),
                       help='model whose labels (and label map) the truth uses')
    add_format_arguments(maker)
    maker.set_defaults(run=make)

    player = commands.add_parser('replay', help='publish a bag onto its topics')
    player.add_argument('bag')
    player.add_argument('--rate', type=float, default=1.0, help='pace (0: at once)')
    player.add_argument('--start-offset', type=float, default=0.0, help='skip seconds')
    player.add_argument('--loop', action='store_true')
    player.add_argument('--topics', nargs='+', help='only these topics')
    player.set_defaults(run=replay)

    recorder = commands.add_parser('record', help='record /emotion and /emotion/raw')
    recorder.add_argument('output', help='bag folder to create')
    recorder.add_argument('--storage', choices=['sqlite3', 'mcap'], default='sqlite3')
    recorder.set_defaults(run=record)

    for name, function, text in (('score', score, 'score a recording or the offline run'),
                                 ('evaluate', evaluate, 'node live + offline, scored')):
        command = commands.add_parser(name, help=text)
        command.add_argument('bag', help='a bag made by ser-bag make')
        command.add_argument('--recording', help='bag of a recorded /emotion (and raw)')
        command.add_argument('--offline', action='store_true', help='also run the core offline')
        command.add_argument('--model', default=default_model_path())
        command.add_argument('--rate', type=float, default=1.0, help='replay pace (evaluate)')
        command.add_argument('--dwell-s', type=float, help='node smoothing (evaluate)')
        command.add_argument('--output-dir', help='write timeline.png, reliability.png and '
                             'scores.json here')
        command.add_argument('--json', action='store_true')
        command.set_defaults(run=function)

    args = parser.parse_args(argv)
    limit_threads(args.threads)
    return args.run(args)


def main(argv=None):
    """Run ``ser-bag``: user errors print ``ser-bag: message`` and exit 2."""
    return run_cli('ser-bag', run, argv)


if __name__ == '__main__':
    sys.exit(main())
