# Server benchmarks (test/bench/server). Included from the root Makefile; stand-alone:
#   make -f Makefile -f test/bench/server/bench.mk bench-server
.PHONY: bench-server bench-server-vsftpd

bench-server: deps seaweedfs server-native ## FTP server vs vsftpd: 1 GiB RETR/STOR, 1,000 sessions, PASV latency at 10%/99% pool use, lftp mirror of 1,000 small files through 34 ports, 1 GiB RETR/STOR on S3 (SeaweedFS) beside local disk
	test/bench/server/run.sh

bench-server-vsftpd: deps ## the same harness against vsftpd alone (smaller: checks the harness)
	BENCH_SERVERS=vsftpd BENCH_BIG_MB=256 BENCH_REPEAT=3 BENCH_SESSIONS=200 BENCH_PROBES=300 test/bench/server/run.sh
