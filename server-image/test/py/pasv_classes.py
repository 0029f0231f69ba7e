"""Python ftplib client for server-image/test/ftplib.test.ts.

For each user: log in, send PASV and report the address and port of the 227 reply, send EPSV
and report its port, then do a real LIST and RETR over PASV. ftplib ignores the PASV address
by default (trust_server_pasv_ipv4_address = False) and connects to the control host, so the
data connections stay on 127.0.0.1 even though the replies carry external addresses.

Usage: pasv_classes.py PORT user:password [user:password ...]   -> JSON on stdout
"""
import ftplib
import io
import json
import sys


def main() -> None:
    port = int(sys.argv[1])
    out = {}
    for cred in sys.argv[2:]:
        user, password = cred.split(":", 1)
        ftp = ftplib.FTP()
        assert ftp.trust_server_pasv_ipv4_address is False
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login(user, password)
        host, pasv_port = ftplib.parse227(ftp.sendcmd("PASV"))
        # ftplib keeps no listener state for a bare PASV; abandon that one with a new one below.
        epsv_port = ftplib.parse229(ftp.sendcmd("EPSV"), ("127.0.0.1", port))[1]
        buf = io.BytesIO()
        ftp.storbinary("STOR hello.txt", io.BytesIO(b"hello " + user.encode()))
        ftp.retrbinary("RETR hello.txt", buf.write)
        names = ftp.nlst()
        ftp.quit()
        out[user] = {
            "pasvHost": host,
            "pasvPort": pasv_port,
            "epsvPort": epsv_port,
            "retr": buf.getvalue().decode(),
            "names": names,
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
