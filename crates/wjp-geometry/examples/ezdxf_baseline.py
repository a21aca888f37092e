# Baseline for BENCHMARKS.md: ezdxf (what the old Python analyser was built on)
# reading each fixture and computing its extents, best of 3. Run with a Python that
# has ezdxf installed: `python3 examples/ezdxf_baseline.py`.
# Lower bound of the old Python analyser: ezdxf reading + a bbox/length walk.
import glob, os, time, ezdxf
from ezdxf import bbox, recover
HERE = os.path.dirname(os.path.abspath(__file__))
files = sorted(glob.glob(os.path.join(HERE, "../../../../shared/fixtures/dxf/*.dxf")), key=os.path.getsize, reverse=True)
tot = 0.0
times = []
for f in files:
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        try:
            doc, auditor = recover.readfile(f)
            msp = doc.modelspace()
            b = bbox.extents(msp)
            n = 0
            for e in msp:
                n += 1
        except Exception as ex:
            pass
        best = min(best, time.perf_counter() - t)
    times.append(best)
    print(f"{os.path.basename(f):48s} {best*1e3:9.2f} ms")
times.sort()
print("sum %.1f ms, median %.2f ms" % (sum(times)*1e3, times[len(times)//2]*1e3))
