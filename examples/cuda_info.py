# examples/cuda_info.py: what CUDA tessera sees, and the caching allocator's statistics.
import tessera as ts

if ts.cuda.is_available():
    for d in range(ts.cuda.device_count()):
        p = ts.cuda.get_device_properties(d)
        print(f"cuda:{d}: {p['name']}, sm_{p['major']}{p['minor']}, {p['total_memory'] / 2**30:.1f} GiB")
    print("allocated", ts.cuda.memory_allocated(), "reserved", ts.cuda.memory_reserved())
else:
    print("no CUDA:", ts.cuda.unavailable_reason())
    try:
        ts.ones(2).to("cuda")
    except RuntimeError as e:  # a clear error, never a crash
        print("RuntimeError:", e)
