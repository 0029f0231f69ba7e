# Server benchmarks (test/bench/server). Included from the root Makefile; stand-alone:
#   make -f Makefile -f test/bench/server/bench.mk bench-server
.PHONY: bench-server bench-server-vsftpd

bench-server: deps ## FTP server vs vsftpd: 1 GiB RETR/STOR, 1,000 sessions, PASV latency at 10%/99% pool use
	test/bench/server/run.sh

bench-server-vsftpd: deps ## the same harness against vsftpd alone (smaller: checks the harness)
	BENCH_SERVERS=vsftpd test/bench/server/run.sh
