import os, sys, time, statistics
import numpy as np, torch
from skimage import data
from PIL import Image
from cvdemo.models import human_pack as hp
from cvdemo.device import synchronize
builders = {'nanodet': hp._build_nanodet, 'centernet': hp._build_centernet, 'selfie': hp._build_selfie, 'meet': hp._build_meet, 'emotion': hp._build_emotion}
frame = np.asarray(Image.fromarray(data.astronaut()).resize((640, 480), Image.BILINEAR))
photos = {'astronaut': data.astronaut(), 'chelsea': data.chelsea(), 'coffee': data.coffee()}
def call(name, m, img):
    if name in ('nanodet', 'centernet'): return m.detect(img, 0.2)
    if name in ('selfie', 'meet'): return m.segment(img)
    return m.classify(img)
def bench(name, m, device, runs):
    for _ in range(3): call(name, m, frame)
    synchronize(device); ts = []
    for _ in range(runs):
        t = time.perf_counter(); call(name, m, frame); synchronize(device); ts.append(time.perf_counter() - t)
    return round(statistics.median(ts) * 1000, 2)
mode = sys.argv[1]
if mode == 'cpu':
    torch.set_num_threads(2)
    for name, b in builders.items():
        m = b(torch.device('cpu'))
        ms = bench(name, m, torch.device('cpu'), 20)
        net_in = m.preprocess(frame); net_in = net_in[0] if isinstance(net_in, tuple) else net_in
        def netonly():
            with torch.inference_mode(): m.network(net_in)
        for _ in range(2): netonly()
        ts = []
        for _ in range(10):
            t = time.perf_counter(); netonly(); ts.append(time.perf_counter() - t)
        print(f'CPU2 {name:10s} full {ms:8.1f} ms {1000/ms:6.1f} FPS | network only {statistics.median(ts)*1000:7.1f} ms', flush=True)
else:
    dev = torch.device('cuda')
    print(torch.cuda.get_device_name(0), torch.__version__)
    for name, b in builders.items():
        g = b(dev); c = b(torch.device('cpu'))
        for p, img in photos.items():
            rg, rc = call(name, g, img), call(name, c, img)
            if name in ('nanodet', 'centernet'):
                print(name, p, 'cuda', rg.sorted().to_records()[:2], '| cpu', rc.sorted().to_records()[:2])
            elif name in ('selfie', 'meet'):
                print(name, p, 'mask agreement', float((rg.classes == rc.classes).mean()), 'max prob diff', float(np.abs(rg.probabilities - rc.probabilities).max()))
            else:
                print(name, p, 'cuda', rg.top(2), 'cpu', rc.top(2))
        if name == 'nanodet':
            t, _ = g.preprocess(photos['astronaut']); t = t.clone().requires_grad_(True)
            s, _ = g.network(t); (gr,) = torch.autograd.grad(s[0, :, 0].max(), t)
            print('cuda grad finite', bool(torch.isfinite(gr).all()), float(gr.abs().sum()))
        print(f'CUDA {name:10s} {bench(name, g, dev, 30):8.2f} ms', flush=True)
