// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * cargo-meshinsight component probe (docs/probe.md).
 *
 * Partitions the on-CPU time of the threads of target processes into
 * components (read, write, ipc, notify, user, other_kernel) using
 * tracepoints only: raw_syscalls, sched, irq (softirq) and net.
 *
 * Every handler exists twice, with one body: as a classic tracepoint program
 * (SEC("tracepoint/..."), reads the perf trace record) and as a raw tracepoint
 * program (SEC("raw_tracepoint/..."), reads the tracepoint's arguments; no
 * trace record is built, which makes each event cheaper). The loader prefers
 * the raw set and falls back to the classic one (docs/probe.md).
 */
#include "bpf_min.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

/* Configuration, set by the loader with EbpfLoader::set_global. */
/* Charge NET_RX softirq time spent in ksoftirqd to TGID_SOFTIRQ_DAEMON. */
volatile const u32 CFG_COUNT_KSOFTIRQD = 1;
/* Follow children of targets (sched_process_fork). */
volatile const u32 CFG_FOLLOW_CHILDREN = 1;

#define SOFTIRQ_NET_TX 2
#define SOFTIRQ_NET_RX 3

/* sched_switch's classic record marks a preempted task's prev_state with TASK_REPORT_MAX
 * (0x100); the bits below it say how a task went to sleep. */
#define TASK_REPORT_SLEEP_MASK 0xff

/* tgid -> role, written by user space (targets) and by fork (children). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u32);
} targets SEC(".maps");

/* tid -> state, for threads of targets only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct thread_state);
} threads SEC(".maps");

/* syscall number -> SYS_* class, filled by user space for its architecture. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYSCALL_SLOTS);
	__type(key, u32);
	__type(value, u32);
} syscall_class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct probe_key);
	__type(value, struct probe_stats);
} stats SEC(".maps");

/* tgid -> the event counts of its exited threads (a thread's own are in its state). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, struct probe_events);
} retired SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_COUNT);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

/* Per-CPU state: the softirq running on this CPU, and a guard against nesting. */
struct cpu_state {
	u64 start; /* of the softirq */
	u32 vec;
	u32 active; /* a softirq runs (a transmit inside it is part of its time) */
	u32 busy;   /* one of our programs runs on this CPU */
	u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_state);
} cpu_state SEC(".maps");

/* Kernel types read by the raw tracepoint programs; CO-RE relocations (resolved by the
 * loader against the kernel's BTF) fix the field offsets. */
struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

struct net_device {
	char name[16];
} __attribute__((preserve_access_index));

struct bpf_raw_tracepoint_args {
	u64 args[0];
};

/* Tracepoint records (/sys/kernel/tracing/events/<cat>/<name>/format). */
struct tp_common {
	u16 type;
	u8 flags;
	u8 preempt_count;
	s32 pid;
};

struct tp_sys_enter {
	struct tp_common c;
	s64 id;
	u64 args[6];
};

struct tp_sys_exit {
	struct tp_common c;
	s64 id;
	s64 ret;
};

struct tp_sched_switch {
	struct tp_common c;
	char prev_comm[16];
	s32 prev_pid;
	s32 prev_prio;
	s64 prev_state;
	char next_comm[16];
	s32 next_pid;
	s32 next_prio;
};

struct tp_sched_wakeup {
	struct tp_common c;
	char comm[16];
	s32 pid;
	s32 prio;
	s32 target_cpu;
};

struct tp_sched_process_fork {
	struct tp_common c;
	u32 parent_comm_loc;
	s32 parent_pid;
	u32 child_comm_loc;
	s32 child_pid;
};

struct tp_sched_process_exit {
	struct tp_common c;
	char comm[16];
	s32 pid;
};

struct tp_softirq {
	struct tp_common c;
	u32 vec;
};

struct tp_net_dev_start_xmit {
	struct tp_common c;
	u32 name_loc;
	u16 queue_mapping;
	u16 pad0;
	u64 skbaddr;
	u8 vlan_tagged;
	u8 pad1;
	u16 vlan_proto;
	u16 vlan_tci;
	u16 protocol;
	u8 ip_summed;
	u8 pad2[3];
	u32 len;
};

struct tp_net_dev_xmit {
	struct tp_common c;
	u64 skbaddr;
	u32 len;
	s32 rc;
	u32 name_loc;
};

static __always_inline void count(u32 idx)
{
	u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline u32 log2_bucket(u64 v)
{
	u32 r = 0;
	if (v == 0)
		return 0;
	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	r += 1;
	return r < HIST_BUCKETS ? r : HIST_BUCKETS - 1;
}

/* Adds one event (or, with events == 0, time alone) to a component. */
static __always_inline void charge(u32 tgid, u32 comp, u64 events, u64 bytes,
				   u64 wall, u64 cpu)
{
	struct probe_key key = {.tgid = tgid, .comp = comp};
	struct probe_stats *s = bpf_map_lookup_elem(&stats, &key);
	if (!s) {
		struct probe_stats zero = {};
		if (bpf_map_update_elem(&stats, &key, &zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&stats, &key)) {
			count(CNT_STATS_FULL);
			return;
		}
		s = bpf_map_lookup_elem(&stats, &key);
		if (!s) {
			count(CNT_STATS_FULL);
			return;
		}
	}
	s->count += events;
	s->bytes += bytes;
	s->wall_ns += wall;
	s->cpu_ns += cpu;
	if (events) {
		u32 b = log2_bucket(wall);
		if (b < HIST_BUCKETS)
			s->hist[b] += 1;
	}
}

/*
 * The state of the current thread, if it is followed. One hash lookup: the
 * threads of targets are entered by user space at the attach and by
 * sched_process_fork after it; only when children are not followed (fork does
 * not enter new threads then) does a miss look up the thread's process.
 */
static __always_inline struct thread_state *current_state(u32 *tgid_out)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;
	u32 tid = (u32)id;
	*tgid_out = tgid;
	struct thread_state *st = bpf_map_lookup_elem(&threads, &tid);
	if (st) {
		/* A child forked after the attach starts with its parent's tgid (a new
		 * thread's, not a new process's): set it right at its first event. */
		st->tgid = tgid;
		return st;
	}
	if (CFG_FOLLOW_CHILDREN)
		return 0;
	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	struct thread_state fresh = {.tgid = tgid};
	if (bpf_map_update_elem(&threads, &tid, &fresh, BPF_NOEXIST)) {
		st = bpf_map_lookup_elem(&threads, &tid);
		if (!st)
			count(CNT_THREADS_FULL);
		return st;
	}
	return bpf_map_lookup_elem(&threads, &tid);
}

/* The current thread runs: advance its accounting to now. */
static __always_inline void touch(struct thread_state *st, u64 now)
{
	if (st->flags & TF_ONCPU)
		st->seg_cpu += now - st->last_ts;
	else
		st->flags |= TF_ONCPU;
	st->last_ts = now;
}

/* Wake-up delay noticed at a switch-in outside a notify syscall. */
static __always_inline void fold_pending(struct thread_state *st, u32 tgid)
{
	if (st->pending_wake_ns) {
		charge(tgid, COMP_NOTIFY, 0, 0, st->pending_wake_ns, 0);
		st->pending_wake_ns = 0;
	}
	/* Running in context: any wake-up not followed by a switch-in is stale. */
	st->wakeup_ts = 0;
}

/*
 * Enters one of our programs on this CPU, or returns 0 when another one is
 * running here already (raw tracepoint programs nest: a softirq can run inside
 * an interrupted sys_exit program, and both would update the same thread's
 * state). Classic tracepoint programs never nest (the kernel skips them), so
 * for them the guard is a no-op. Pair with leave().
 */
static __always_inline struct cpu_state *enter(void)
{
	u32 zero = 0;
	struct cpu_state *cs = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!cs)
		return 0;
	if (cs->busy) {
		count(CNT_NESTED);
		return 0;
	}
	cs->busy = 1;
	return cs;
}

static __always_inline void leave(struct cpu_state *cs)
{
	cs->busy = 0;
}

/* nr < 0: not known (raw tracepoints do not pass it to sys_exit). */
static __always_inline void on_sys_enter(s64 nr)
{
	u32 tgid;
	struct thread_state *st = current_state(&tgid);
	if (!st)
		return;
	u64 now = bpf_ktime_get_ns();
	touch(st, now);
	fold_pending(st, tgid);
	if (!(st->flags & TF_INSYS) && st->seg_cpu)
		charge(tgid, COMP_USER, 1, 0, st->seg_cpu, st->seg_cpu);
	u32 cls = SYS_OTHER;
	if (nr >= 0 && nr < SYSCALL_SLOTS) {
		u32 k = (u32)nr;
		u32 *c = bpf_map_lookup_elem(&syscall_class, &k);
		if (c)
			cls = *c;
	}
	st->flags |= TF_INSYS;
	st->sys_nr = nr;
	st->sys_class = cls;
	st->sys_enter_ts = now;
	st->seg_cpu = 0;
	st->nested_ns = 0;
	st->sys_wakeup_ns = 0;
}

static __always_inline void on_sys_exit(s64 nr, s64 ret)
{
	u32 tgid;
	struct thread_state *st = current_state(&tgid);
	if (!st)
		return;
	u64 now = bpf_ktime_get_ns();
	touch(st, now);
	fold_pending(st, tgid);
	u64 cpu = st->seg_cpu;
	if ((st->flags & TF_INSYS) && (nr < 0 || st->sys_nr == nr)) {
		u64 wall = now - st->sys_enter_ts;
		wall = wall > st->nested_ns ? wall - st->nested_ns : 0;
		u32 comp = COMP_OTHER_KERNEL;
		u64 bytes = 0;
		if (st->sys_class == SYS_READ && ret > 0) {
			comp = COMP_READ;
			bytes = ret;
		} else if (st->sys_class == SYS_WRITE && ret > 0) {
			comp = COMP_WRITE;
			bytes = ret;
		} else if (st->sys_class == SYS_NOTIFY) {
			comp = COMP_NOTIFY;
			/* Blocked time is the peer's, not a cost: keep on-CPU
			 * time and the wake-up delay. */
			wall = cpu + st->sys_wakeup_ns;
		}
		charge(tgid, comp, 1, bytes, wall, cpu);
	} else {
		if (!(st->flags & TF_CHILD))
			count(CNT_UNMATCHED_SYS);
		charge(tgid, COMP_OTHER_KERNEL, 1, 0, cpu, cpu);
	}
	st->flags &= ~(TF_INSYS | TF_CHILD);
	st->seg_cpu = 0;
}

/*
 * prev: the current thread; sleeps: it leaves the CPU to wait (not preempted). The
 * switch counts run on prev's own CPU, in its context: no other CPU writes them.
 */
static __always_inline void on_switch(u32 prev, u32 next, int sleeps)
{
	u64 now = 0;
	struct thread_state *st;
	if (prev) {
		st = bpf_map_lookup_elem(&threads, &prev);
		if (st) {
			now = bpf_ktime_get_ns();
			if (st->flags & TF_ONCPU)
				st->seg_cpu += now - st->last_ts;
			st->flags &= ~TF_ONCPU;
			if (sleeps) {
				st->wakeup_ts = 0; /* a new wake-up will come */
				st->events.switches += 1;
			} else {
				st->events.preemptions += 1;
			}
		}
	}
	if (next) {
		st = bpf_map_lookup_elem(&threads, &next);
		if (st) {
			if (!now)
				now = bpf_ktime_get_ns();
			st->flags |= TF_ONCPU;
			st->last_ts = now;
			if (st->wakeup_ts) {
				u64 d = now - st->wakeup_ts;
				if ((st->flags & TF_INSYS) && st->sys_class == SYS_NOTIFY)
					st->sys_wakeup_ns += d;
				else
					st->pending_wake_ns += d;
				st->wakeup_ts = 0;
			}
		}
	}
}

/*
 * Every wake-up of a followed thread is counted, also one that catches it before it left
 * the CPU (it had begun to wait). The kernel serialises the wake-ups of one task (its
 * pi_lock), so the count needs no atomic add.
 */
static __always_inline void on_wakeup(u32 tid)
{
	struct thread_state *st = bpf_map_lookup_elem(&threads, &tid);
	if (!st)
		return;
	st->events.wakeups += 1;
	if (!(st->flags & TF_ONCPU))
		st->wakeup_ts = bpf_ktime_get_ns();
}

/* The current thread exits: keep its event counts for its process, forget its state. */
static __always_inline void on_thread_exit(void)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u32 tgid = id >> 32;
	struct thread_state *st = bpf_map_lookup_elem(&threads, &tid);
	if (!st)
		return;
	struct probe_events *r = bpf_map_lookup_elem(&retired, &tgid);
	if (!r) {
		struct probe_events zero = {};
		bpf_map_update_elem(&retired, &tgid, &zero, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&retired, &tgid);
	}
	if (r) {
		r->wakeups += st->events.wakeups;
		r->switches += st->events.switches;
		r->preemptions += st->events.preemptions;
		r->net_softirqs += st->events.net_softirqs;
		r->other_softirqs += st->events.other_softirqs;
	} else {
		count(CNT_RETIRED_FULL);
	}
	bpf_map_delete_elem(&threads, &tid);
}

/* Runs in the parent's context. */
static __always_inline void on_fork(u32 child)
{
	if (!CFG_FOLLOW_CHILDREN)
		return;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u32 *role = bpf_map_lookup_elem(&targets, &tgid);
	if (!role)
		return;
	u32 r = *role;
	/* A new thread is keyed here too; it never owns stats (they are keyed
	 * by the tgid of the running thread), so the extra entry is inert. */
	if (bpf_map_update_elem(&targets, &child, &r, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&targets, &child))
		count(CNT_TARGETS_FULL);
	struct thread_state fresh = {.flags = TF_CHILD, .tgid = tgid};
	if (bpf_map_update_elem(&threads, &child, &fresh, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&threads, &child))
		count(CNT_THREADS_FULL);
}

static __always_inline void on_softirq_entry(struct cpu_state *cs, u32 vec)
{
	u64 now = bpf_ktime_get_ns();
	cs->start = now;
	cs->vec = vec;
	cs->active = 1;
	u32 tgid;
	struct thread_state *st = current_state(&tgid);
	if (st)
		touch(st, now); /* what ran before belongs to the interrupted segment */
}

static __always_inline void on_softirq_exit(struct cpu_state *cs, u32 vec)
{
	if (!cs->active || cs->vec != vec) {
		count(CNT_UNMATCHED_SIRQ);
		cs->active = 0;
		return;
	}
	cs->active = 0;
	u64 now = bpf_ktime_get_ns();
	u64 d = now - cs->start;
	u32 net = vec == SOFTIRQ_NET_RX || vec == SOFTIRQ_NET_TX;
	u32 tgid;
	struct thread_state *st = current_state(&tgid);
	if (st) {
		charge(tgid, net ? COMP_IPC : COMP_OTHER_KERNEL, 1, 0, d, d);
		if (net)
			st->events.net_softirqs += 1;
		else
			st->events.other_softirqs += 1;
		if (st->flags & TF_INSYS)
			st->nested_ns += d;
		st->flags |= TF_ONCPU;
		st->last_ts = now; /* the softirq is not the segment's time */
		return;
	}
	if (CFG_COUNT_KSOFTIRQD && vec == SOFTIRQ_NET_RX) {
		char comm[16];
		bpf_get_current_comm(comm, sizeof(comm));
		if (comm[0] == 'k' && comm[1] == 's' && comm[2] == 'o' &&
		    comm[3] == 'f' && comm[4] == 't' && comm[5] == 'i' &&
		    comm[6] == 'r' && comm[7] == 'q' && comm[8] == 'd')
			charge(TGID_SOFTIRQ_DAEMON, COMP_IPC, 1, 0, d, d);
	}
}

/* name: the device's name, in kernel memory. */
static __always_inline int is_loopback(const void *name)
{
	char n[3] = {};
	bpf_probe_read_kernel(n, sizeof(n), name);
	return n[0] == 'l' && n[1] == 'o' && n[2] == 0;
}

static __always_inline void on_xmit_start(struct cpu_state *cs, const void *dev_name)
{
	/* A transmit inside a softirq is part of the softirq's time. */
	if (cs->active)
		return;
	u32 tgid;
	struct thread_state *st = current_state(&tgid);
	if (!st || !is_loopback(dev_name))
		return;
	u64 now = bpf_ktime_get_ns();
	touch(st, now);
	st->xmit_ts = now;
}

static __always_inline void on_xmit(struct cpu_state *cs, u32 len)
{
	if (cs->active)
		return;
	u32 tgid;
	struct thread_state *st = current_state(&tgid);
	if (!st || !st->xmit_ts)
		return;
	u64 now = bpf_ktime_get_ns();
	u64 d = now - st->xmit_ts;
	st->xmit_ts = 0;
	charge(tgid, COMP_IPC, 1, len, d, d);
	if (st->flags & TF_INSYS)
		st->nested_ns += d;
	st->flags |= TF_ONCPU;
	st->last_ts = now;
}

/* Defines a program: the body runs with `cs`, this CPU's state, entered. */
#define PROGRAM(sec, name, ctx_type, body)                                     \
	SEC(sec)                                                               \
	int name(ctx_type *ctx)                                                \
	{                                                                      \
		struct cpu_state *cs = enter();                                \
		if (!cs)                                                       \
			return 0;                                              \
		body;                                                          \
		leave(cs);                                                     \
		return 0;                                                      \
	}

/* The classic set: tracepoint records. */

PROGRAM("tracepoint/raw_syscalls/sys_enter", sys_enter, struct tp_sys_enter,
	on_sys_enter(ctx->id))
PROGRAM("tracepoint/raw_syscalls/sys_exit", sys_exit, struct tp_sys_exit,
	on_sys_exit(ctx->id, ctx->ret))
PROGRAM("tracepoint/sched/sched_switch", sched_switch, struct tp_sched_switch,
	on_switch(ctx->prev_pid, ctx->next_pid,
		  (ctx->prev_state & TASK_REPORT_SLEEP_MASK) != 0))
PROGRAM("tracepoint/sched/sched_wakeup", sched_wakeup, struct tp_sched_wakeup,
	on_wakeup(ctx->pid))
PROGRAM("tracepoint/sched/sched_process_fork", sched_process_fork,
	struct tp_sched_process_fork, on_fork(ctx->child_pid))
PROGRAM("tracepoint/sched/sched_process_exit", sched_process_exit,
	struct tp_sched_process_exit, on_thread_exit())
PROGRAM("tracepoint/irq/softirq_entry", softirq_entry, struct tp_softirq,
	on_softirq_entry(cs, ctx->vec))
PROGRAM("tracepoint/irq/softirq_exit", softirq_exit, struct tp_softirq,
	on_softirq_exit(cs, ctx->vec))
PROGRAM("tracepoint/net/net_dev_start_xmit", net_dev_start_xmit,
	struct tp_net_dev_start_xmit,
	on_xmit_start(cs, (char *)ctx + (ctx->name_loc & 0xffff)))
PROGRAM("tracepoint/net/net_dev_xmit", net_dev_xmit, struct tp_net_dev_xmit,
	on_xmit(cs, ctx->len))

/*
 * The raw set: the tracepoints' arguments (TP_PROTO in include/trace/events/).
 * The scheduler's tracepoints pass task pointers; their pids are read with
 * CO-RE offsets.
 */

static __always_inline u32 task_pid(const struct task_struct *t)
{
	int pid = 0;
	bpf_probe_read_kernel(&pid, sizeof(pid), &t->pid);
	return pid;
}

/* sys_enter(struct pt_regs *regs, long id) */
PROGRAM("raw_tracepoint/sys_enter", raw_sys_enter, struct bpf_raw_tracepoint_args,
	on_sys_enter(ctx->args[1]))
/* sys_exit(struct pt_regs *regs, long ret): the syscall number is not passed. */
PROGRAM("raw_tracepoint/sys_exit", raw_sys_exit, struct bpf_raw_tracepoint_args,
	on_sys_exit(-1, ctx->args[1]))
/* sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
 * unsigned int prev_state); prev is the current task. */
PROGRAM("raw_tracepoint/sched_switch", raw_sched_switch, struct bpf_raw_tracepoint_args,
	on_switch((u32)bpf_get_current_pid_tgid(),
		  task_pid((const struct task_struct *)ctx->args[2]),
		  !ctx->args[0] && (u32)ctx->args[3] != 0))
/* sched_wakeup(struct task_struct *p) */
PROGRAM("raw_tracepoint/sched_wakeup", raw_sched_wakeup, struct bpf_raw_tracepoint_args,
	on_wakeup(task_pid((const struct task_struct *)ctx->args[0])))
/* sched_process_fork(struct task_struct *parent, struct task_struct *child) */
PROGRAM("raw_tracepoint/sched_process_fork", raw_sched_process_fork,
	struct bpf_raw_tracepoint_args,
	on_fork(task_pid((const struct task_struct *)ctx->args[1])))
/* sched_process_exit(struct task_struct *p, ...): p is the current task. */
PROGRAM("raw_tracepoint/sched_process_exit", raw_sched_process_exit,
	struct bpf_raw_tracepoint_args, on_thread_exit())
/* softirq_entry(unsigned int vec_nr), softirq_exit(unsigned int vec_nr) */
PROGRAM("raw_tracepoint/softirq_entry", raw_softirq_entry, struct bpf_raw_tracepoint_args,
	on_softirq_entry(cs, (u32)ctx->args[0]))
PROGRAM("raw_tracepoint/softirq_exit", raw_softirq_exit, struct bpf_raw_tracepoint_args,
	on_softirq_exit(cs, (u32)ctx->args[0]))
/* net_dev_start_xmit(const struct sk_buff *skb, const struct net_device *dev) */
PROGRAM("raw_tracepoint/net_dev_start_xmit", raw_net_dev_start_xmit,
	struct bpf_raw_tracepoint_args,
	on_xmit_start(cs, ((const struct net_device *)ctx->args[1])->name))
/* net_dev_xmit(struct sk_buff *skb, int rc, struct net_device *dev,
 * unsigned int skb_len) */
PROGRAM("raw_tracepoint/net_dev_xmit", raw_net_dev_xmit, struct bpf_raw_tracepoint_args,
	on_xmit(cs, (u32)ctx->args[3]))
