#!/usr/bin/env python3
# stack-experts.py SRC DST: the checkpoint SRC with its experts stacked as mlx-lm
# stores them (PREFIX.switch_mlp.{gate,up,down}_proj.weight [experts, rows, cols],
# Mixtral's w1/w3/w2 renamed), written to DST/model.safetensors; tensors
# and bytes otherwise unchanged.  Standard library only.
import json, re, struct, sys
src, dst = sys.argv[1], sys.argv[2]
f = open(src + '/model.safetensors', 'rb')
n = struct.unpack('<Q', f.read(8))[0]
head = json.loads(f.read(n))
base = 8 + n
def data(name):
    t = head[name]
    f.seek(base + t['data_offsets'][0])
    return f.read(t['data_offsets'][1] - t['data_offsets'][0])
names = {'w1': 'gate_proj', 'w3': 'up_proj', 'w2': 'down_proj'}
out, stacks = {}, {}
for k in head:
    if k == '__metadata__':
        continue
    m = re.match(r'(.*)\.experts\.(\d+)\.(\w+)\.weight$', k)
    if m:
        key = '%s.switch_mlp.%s.weight' % (m.group(1), names.get(m.group(3), m.group(3)))
        stacks.setdefault(key, {})[int(m.group(2))] = k
    else:
        out[k] = (head[k]['dtype'], head[k]['shape'], data(k))
for key, ex in stacks.items():
    first = head[ex[0]]
    out[key] = (first['dtype'], [len(ex)] + first['shape'], b''.join(data(ex[e]) for e in sorted(ex)))
hdr, off, blobs = {}, 0, []
for k in sorted(out):
    dt, shape, b = out[k]
    hdr[k] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(b)]}
    off += len(b)
    blobs.append(b)
hdr['__metadata__'] = {'format': 'mlx'}
h = json.dumps(hdr).encode()
h += b' ' * (-len(h) % 8)
with open(dst + '/model.safetensors', 'wb') as o:
    o.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
