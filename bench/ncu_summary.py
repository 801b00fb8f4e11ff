#!/usr/bin/env python3
"""Per-kernel time of the last forward step in an ncu csv (`ncu --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum`),
grouped by kernel and grid, with the DRAM bandwidth each reached. The last step starts at the last `embed` launch."""
import csv, collections, sys
rows=[r for r in csv.reader(open(sys.argv[1])) if len(r)>5]
hdr=rows[0]
ki=hdr.index("Kernel Name"); mi=hdr.index("Metric Name"); vi=hdr.index("Metric Value"); idi=hdr.index("ID"); gi=hdr.index("Grid Size"); bi=hdr.index("Block Size")
launch={}; order=[]
for r in rows[1:]:
    i=int(r[idi])
    if i not in launch: launch[i]={'name':r[ki][:40],'grid':r[gi],'blk':r[bi]}; order.append(i)
    try: launch[i][r[mi]]=float(r[vi].replace(',',''))
    except: pass
emb=[i for i in order if launch[i]['name'].startswith('embed')]
last=[i for i in order if i>=emb[-1]]
tot=sum(launch[i]['gpu__time_duration.sum'] for i in last)
print('last step kernels', len(last), 'sum us', tot/1e3)
agg=collections.defaultdict(lambda:[0,0,0.0])
for i in last:
    L=launch[i]; key=(L['name'],L['grid'],L['blk'])
    a=agg[key]; a[0]+=1; a[1]+=L['gpu__time_duration.sum']; a[2]+=L.get('dram__bytes_read.sum',0)
for k,a in sorted(agg.items(), key=lambda x:-x[1][1])[:16]:
    print(f"{k[0]:40s} {k[1]:14s} {k[2]:12s} n={a[0]:4d} total={a[1]/1e3:8.1f}us each={a[1]/a[0]/1e3:7.2f}us  GB/s={a[2]/a[1] if a[1] else 0:7.0f}")
