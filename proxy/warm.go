package proxy

import (
	"context"
	"errors"
	"sync"
	"time"
)

// warmSession is an agent session opened ahead of the next task, while the proxy waits for
// it: the agent's start-up, initialize and session/new then overlap the fetch instead of
// following it, and a task's prompt goes out as soon as the task is decoded.
type warmSession struct {
	ready chan struct{} // closed when the attempt ends
	sess  *session
	err   error
}

// prewarm starts opening a session, bounded by the startup timeout.
func (r *Runner) prewarm(ctx context.Context) *warmSession {
	w := &warmSession{ready: make(chan struct{})}
	go func() {
		defer close(w.ready)
		sctx, cancel := context.WithTimeout(ctx, r.cfg.StartupTimeout)
		defer cancel()
		w.sess, w.err = openSession(sctx, r.dialer, r.cfg.Workspace, r.perms, r.cfg.Agent, nil, r.log)
	}()
	return w
}

// failed reports whether the attempt has ended without a session.
func (w *warmSession) failed() bool {
	select {
	case <-w.ready:
		return w.err != nil
	default:
		return false
	}
}

// discard closes the session once it is ready, without waiting for it; agents is done when
// it is closed, so that Run returns only after every agent it started has exited.
func (w *warmSession) discard(agents *sync.WaitGroup) {
	agents.Go(func() {
		<-w.ready
		if w.sess != nil {
			w.sess.close()
		}
	})
}

// session returns a live session for a task received at received: the warm one when it is
// (or becomes) ready and its connection is still up, else a fresh one, all within the startup
// timeout counted from received. A warm attempt that the agent refused (*SetupError) is
// returned as it is.
func (r *Runner) session(ctx context.Context, w *warmSession, received time.Time) (*session, error) {
	deadline := received.Add(r.cfg.StartupTimeout)
	if w != nil {
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-w.ready:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		select {
		case <-w.ready:
			var se *SetupError
			if errors.As(w.err, &se) {
				return nil, w.err // the agent's answer: a fresh session would get it again
			}
			if w.err == nil {
				select {
				case <-w.sess.done():
					w.sess.close() // the agent went away while idle
				default:
					return w.sess, nil
				}
			}
		default:
			w.discard(&r.agents)
		}
	}
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return openSession(sctx, r.dialer, r.cfg.Workspace, r.perms, r.cfg.Agent, nil, r.log)
}
