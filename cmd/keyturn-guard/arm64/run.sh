#!/bin/sh
# run.sh: run the tracer's tests (bastion/guard/trace, and optionally
# cmd/keyturn-guard) on a real arm64 Linux kernel, under full-system
# emulation (qemu-system-aarch64, TCG) on any host. qemu-user cannot run
# them: it does not implement ptrace, and the guard is a ptrace tracer.
#
# Usage (from anywhere in the repository):
#   cmd/keyturn-guard/arm64/run.sh            # trace package only
#   KT_ARM64_GUARD=1 cmd/keyturn-guard/arm64/run.sh  # also cmd/keyturn-guard
# The guest's userland is Debian arm64 (bookworm) unpacked by mmdebstrap when
# it is installed, else busybox (KT_ARM64_USERLAND=debian|busybox forces one).
# KT_ARM64_RUN=regexp passes -test.run; KT_ARM64_WORK, KT_ARM64_TIMEOUT
# (seconds, default 3000) and KT_ARM64_KERNEL (an apt package) are optional.
#
# Needs: go, cpio, gzip, qemu-system-aarch64 (Debian: qemu-system-arm), and
# apt with the arm64 architecture added (dpkg --add-architecture arm64 &&
# apt-get update) to download the kernel and static busybox/bash packages;
# mmdebstrap (optional) for the Debian userland.
# Nothing is installed in the host: the packages are only unpacked into
# $KT_ARM64_WORK (default /tmp/keyturn-arm64), never into the repository.
#
# The guest has no network device and no disk: everything runs from an
# initramfs. Its /init prints "KT-ARM64-RESULT <pkg> rc=<n>" per package and
# powers off; this script exits 0 only if every package printed rc=0.
set -eu

repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=${KT_ARM64_WORK:-/tmp/keyturn-arm64}
timeout_s=${KT_ARM64_TIMEOUT:-3000}
guard=${KT_ARM64_GUARD:-0}
run=${KT_ARM64_RUN:-}
# The Debian userland (python3 and the rest) runs every test; busybox alone
# skips TestRefuseAnswersWithoutRunning, the test of refuse's registers.
userland=${KT_ARM64_USERLAND:-}
if [ -z "$userland" ]; then
	userland=busybox
	command -v mmdebstrap >/dev/null && userland=debian
fi
[ "$userland" = busybox ] && echo "run.sh: busybox userland: no python3, the refuse test will skip" >&2

for tool in go cpio gzip qemu-system-aarch64 apt-get dpkg-deb; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done
dpkg --print-foreign-architectures | grep -qx arm64 || {
	echo "run.sh: add the arm64 architecture first: dpkg --add-architecture arm64 && apt-get update" >&2
	exit 2
}

mkdir -p "$work/debs"
# The kernel: the Debian cloud flavour (PL011 console, seccomp and PID
# namespaces built in; no modules needed for an initramfs-only boot).
kpkg=${KT_ARM64_KERNEL:-}
if [ -z "$kpkg" ]; then
	kpkg=$(apt-cache depends linux-image-cloud-arm64:arm64 | awk '/Depends: linux-image-/ { sub(/:arm64$/, "", $2); print $2; exit }')
	[ -n "$kpkg" ] || { echo "run.sh: cannot resolve linux-image-cloud-arm64:arm64" >&2; exit 2; }
	kpkg="$kpkg-unsigned:arm64"
fi
(
	cd "$work/debs"
	for p in "$kpkg" busybox-static:arm64 bash-static:arm64; do
		name=${p%%:*}
		ls "${name}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
	done
)
rm -rf "$work/pkgs"
mkdir -p "$work/pkgs"
for p in "${kpkg%%:*}" busybox-static bash-static; do
	dpkg-deb -x "$(ls "$work/debs/${p}"_*.deb | head -n 1)" "$work/pkgs"
done
kernel=$(ls "$work"/pkgs/boot/vmlinuz-*)

root="$work/root"
rm -rf "$root"
if [ "$userland" = debian ]; then
	# A Debian arm64 userland, unpacked without running anything of it
	# (mmdebstrap's extract variant needs no arm64 emulation on the host):
	# GNU coreutils, util-linux, procps, python3, perl and git, the tools
	# the cmd/keyturn-guard tests drive their attacks with.
	command -v mmdebstrap >/dev/null || { echo "run.sh: mmdebstrap is not installed" >&2; exit 2; }
	mmdebstrap --quiet --mode=root --variant=extract --architectures=arm64 \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--include=bash,coreutils,util-linux,bsdutils,procps,sed,grep,findutils,python3,perl-base,libcap2-bin,git,busybox-static \
		bookworm "$root"
	rm -rf "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale "$root"/usr/share/info "$root"/var/cache/*
	# Maintainer scripts did not run: the few links and files they make.
	ln -sf bash "$root/usr/bin/sh"
	[ -e "$root/usr/bin/python3" ] || ln -s python3.11 "$root/usr/bin/python3"
	for a in poweroff mount; do [ -e "$root/usr/bin/$a" ] || [ -e "$root/usr/sbin/$a" ] || ln "$root/usr/bin/busybox" "$root/usr/bin/$a"; done
else
	# Busybox only: a merged /usr like Debian's (the tests expect
	# /usr/bin/bash behind /bin/bash). Applets are hard links, so
	# /proc/PID/exe names the applet (/usr/bin/kill), as it would name a
	# real binary. Enough for the trace package; many cmd/keyturn-guard
	# tests need GNU tools, python3 or perl (use KT_ARM64_USERLAND=debian).
	mkdir -p "$root/usr/bin"
	ln -s usr/bin "$root/bin"
	ln -s usr/bin "$root/sbin"
	cp "$work/pkgs/bin/busybox" "$root/usr/bin/busybox"
	cp "$work/pkgs/bin/bash-static" "$root/usr/bin/bash"
	for a in sh true false echo sleep kill touch seq printf cat mount umount poweroff mkdir ls uname \
		env cp mv rm id unshare script timeout sync dmesg grep sed head tail wc tr test expr dirname \
		basename readlink ps chmod ln date nproc cut sort tee xargs mktemp sha256sum setsid nsenter; do
		ln "$root/usr/bin/busybox" "$root/usr/bin/$a"
	done
fi
mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root" "$root/etc" "$root/src"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"

echo "run.sh: building the arm64 test binaries" >&2
(
	cd "$repo"
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go test -c -o "$root/trace.test" ./bastion/guard/trace/
	if [ "$guard" = 1 ]; then
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go test -c -o "$root/guard.test" ./cmd/keyturn-guard/
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o "$root/keyturn-guard" ./cmd/keyturn-guard/
	fi
)
mkdir -p "$root/src/bastion/guard/trace" "$root/src/cmd/keyturn-guard"
cp "$repo/policies.yaml" "$root/src/policies.yaml"
if [ "$guard" = 1 ]; then
	# cmd/keyturn-guard's TestMain builds the guard with "go build -o X .";
	# there is no Go toolchain in the guest, so this stand-in copies the
	# guard cross-built above from the same tree.
	cat >"$root/usr/bin/go" <<'EOF'
#!/bin/sh
out=
while [ $# -gt 0 ]; do
	case "$1" in -o) out=$2; shift ;; esac
	shift
done
[ -n "$out" ] && exec cp /keyturn-guard "$out"
echo "go stand-in: only 'go build -o X' is supported" >&2
exit 1
EOF
	chmod +x "$root/usr/bin/go"
fi

runflag=
[ -n "$run" ] && runflag="-test.run '$run'"
cat >"$root/init" <<EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmp /tmp
# The console is a terminal but not this process's controlling terminal;
# the tests run with stdin off the terminal, as the guard does under
# "ssh host cmd" (the terminal path needs a controlling terminal).
export PATH=/usr/sbin:/usr/bin HOME=/root TMPDIR=/tmp
echo "KT-ARM64-KERNEL \$(uname -srm)"
cd /src/bastion/guard/trace
/trace.test -test.v -test.timeout 20m $runflag </dev/null
echo "KT-ARM64-RESULT trace rc=\$?"
if [ -x /guard.test ]; then
	cd /src/cmd/keyturn-guard
	/guard.test -test.v -test.timeout 30m $runflag </dev/null
	echo "KT-ARM64-RESULT keyturn-guard rc=\$?"
fi
sync
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/init.cpio.gz"

log="$work/console.log"
echo "run.sh: booting $(basename "$kernel") under qemu-system-aarch64 (TCG: slow); console in $log" >&2
set +e
timeout "$timeout_s" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 1 -m 2048 -nographic -no-reboot \
	-nic none -kernel "$kernel" -initrd "$work/init.cpio.gz" \
	-append 'console=ttyAMA0 panic=-1 quiet' </dev/null 2>&1 | tee "$log"
set -e
grep -a 'KT-ARM64-' "$log" | tr -d '\r' >&2
want=1
[ "$guard" = 1 ] && want=2
if [ "$(grep -a -c 'KT-ARM64-RESULT .* rc=0' "$log")" -eq "$want" ]; then
	echo "run.sh: PASS on arm64" >&2
	exit 0
fi
echo "run.sh: FAIL on arm64 (or the guest did not finish in ${timeout_s}s)" >&2
exit 1
