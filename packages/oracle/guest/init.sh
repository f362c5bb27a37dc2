#!/bin/sh
# /init of the oracle guest: mounts, loads the modules of /etc/oracle-modules, creates netdevsim
# device 1 (one port: netdev eth0, devlink netdevsim/netdevsim1) when the module is present, then
# hands the machine to the netlink bridge. Console: ttyS0 (qemu -serial file:…).
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmp /tmp
mkdir -p /run/netns
mount -t tmpfs run /run
mkdir -p /run/netns
# no request_module(): what is loaded below is all there is (deterministic crypto API contents)
echo /bin/false > /proc/sys/kernel/modprobe
for m in $(cat /etc/oracle-modules); do
  modprobe "$m" 2>/dev/null || echo "oracle-init: modprobe $m failed"
done
ip link set lo up
if [ -e /sys/bus/netdevsim/new_device ]; then
  echo "1 1" > /sys/bus/netdevsim/new_device && echo "oracle-init: netdevsim1 created"
fi
echo "oracle-init: ready $(cat /proc/uptime)"
exec /sbin/nlbridge
