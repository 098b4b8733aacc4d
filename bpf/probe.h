/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Structures shared by the BPF program and the Rust loader
 * (cargo-meshinsight/src/probe/abi.rs mirrors them with size asserts).
 */
#ifndef MESHINSIGHT_PROBE_H
#define MESHINSIGHT_PROBE_H

/* Components, the index of a probe_key. */
#define COMP_READ 0
#define COMP_WRITE 1
#define COMP_IPC 2
#define COMP_NOTIFY 3
#define COMP_USER 4
#define COMP_OTHER_KERNEL 5
#define COMP_COUNT 6

/* Syscall classes, the values of the syscall_class map. */
#define SYS_OTHER 0
#define SYS_READ 1
#define SYS_WRITE 2
#define SYS_NOTIFY 3
#define SYSCALL_SLOTS 512

/* Counters, the indexes of the per-CPU counters map. */
#define CNT_STATS_FULL 0     /* a stats entry could not be created: event lost */
#define CNT_THREADS_FULL 1   /* a thread could not be tracked: its events lost */
#define CNT_TARGETS_FULL 2   /* a child process could not be added */
#define CNT_UNMATCHED_SYS 3  /* sys_exit without its sys_enter (attached mid-call) */
#define CNT_UNMATCHED_SIRQ 4 /* softirq_exit without its softirq_entry */
#define CNT_NESTED 5 /* an event skipped: another program of ours ran on the CPU */
#define CNT_RETIRED_FULL 6 /* an exited thread's event counts could not be kept */
#define CNT_COUNT 8

#define HIST_BUCKETS 32

/* The owner of the NET_RX time spent in ksoftirqd (not in a target's context). */
#define TGID_SOFTIRQ_DAEMON 0

struct probe_key {
	u32 tgid;
	u32 comp;
};

/* One component of one process; per CPU, summed in user space. */
struct probe_stats {
	u64 count;
	u64 bytes;
	u64 wall_ns;
	u64 cpu_ns;
	/* hist[0]: 0 ns; hist[b]: [2^(b-1), 2^b) ns of wall time; the last is open. */
	u64 hist[HIST_BUCKETS];
};

/*
 * Scheduler and softirq events of a thread (in its thread_state) or of the exited
 * threads of a process (the retired map), counted exactly.
 */
struct probe_events {
	u64 wakeups;	    /* sched_wakeup of the thread */
	u64 switches;	    /* it left the CPU to sleep (a voluntary context switch) */
	u64 preemptions;    /* it left the CPU runnable (an involuntary one) */
	u64 net_softirqs;   /* NET_RX/NET_TX runs in its context (in the ipc count) */
	u64 other_softirqs; /* other softirq runs in its context (in other_kernel's) */
};

/* Thread flags. */
#define TF_ONCPU 1 /* on a CPU since last_ts (known only once set) */
#define TF_INSYS 2 /* inside a syscall that we saw start */
#define TF_CHILD 4 /* forked after the attach: its first sys_exit ends the clone */

struct thread_state {
	u32 flags;
	u32 sys_class;
	s64 sys_nr;
	u64 last_ts;	     /* accounting advanced to here while on CPU */
	u64 seg_cpu;	     /* on-CPU ns of the current user segment or syscall */
	u64 sys_enter_ts;    /* wall start of the current syscall */
	u64 nested_ns;	     /* softirq and transmit ns nested in the syscall */
	u64 sys_wakeup_ns;   /* wake-up delay inside the current notify syscall */
	u64 wakeup_ts;	     /* last sched_wakeup not yet followed by a switch-in */
	u64 pending_wake_ns; /* wake-up delay outside notify syscalls */
	u64 xmit_ts;	     /* start of a loopback transmit */
	u32 tgid;	     /* its process, refreshed at every event in its context */
	u32 pad;
	struct probe_events events;
};

#endif
