package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tollgate/radius"
)

// Notices are the privacy center's emails to an address the dispatcher would not pick:
// the confirmation of a new address goes to that address before it is the
// subscriber's, and the notice that an erasure is done goes to the old address just
// before it is dropped. Each is an event recorded as processed and its one message
// queued to the given address, in the caller's transaction; SendNow then delivers a
// queued message at once, logging the attempt like the sender does, for the erasure
// that must not drop the address before its notice has gone.

// NoticeStore queues and delivers notices (Postgres), on the caller's transaction.
type NoticeStore interface {
	// RecordNotice writes e, processed at n.NextAttemptAt, and n as its one queued
	// message; it sets e.ID, e.At, n.ID and n.EventID. ECONFLICT when e.Key was used.
	RecordNotice(ctx context.Context, e *Event, n *Notification) error
	// LockNotification returns message id, locked until the transaction ends.
	// ENOTFOUND.
	LockNotification(ctx context.Context, id int64) (*Notification, error)
	// RecordAttempt is NotificationStore's.
	RecordAttempt(ctx context.Context, a Attempt, state NotificationState, next time.Time) error
}

// NoticeTx runs fn in one transaction with a NoticeStore bound to it.
type NoticeTx func(ctx context.Context, fn func(NoticeStore) error) error

// Notices renders and delivers the notices. Email is the email sender (nil: this
// process sends no email, and no notice is made); Templates nil means MustTemplates.
type Notices struct {
	Email     Sender
	Templates *Templates
	Operator  string
	InTx      NoticeTx
	Now       func() time.Time
	// Timeout bounds one delivery (10 s when zero).
	Timeout time.Duration
}

// On reports whether notices can be sent.
func (n *Notices) On() bool { return n != nil && n.Email != nil }

func (n *Notices) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// errNoEmail refuses what needs an email when this server sends none.
var errNoEmail = radius.Errorf(radius.EINVALID, "email: this server sends no email; ask the operator")

// Build renders the email of kind for the subscriber named in d, to the address to,
// as a message queued now. EINVALID when no email can be sent.
func (n *Notices) Build(kind EventKind, to string, d MessageData) (*Notification, error) {
	if !n.On() {
		return nil, errNoEmail
	}
	tpl := n.Templates
	if tpl == nil {
		tpl = MustTemplates()
	}
	d.Operator = n.Operator
	if d.Name == "" {
		d.Name = d.Username
	}
	subject, body, err := tpl.Render(kind, ChannelEmail, d)
	if err != nil {
		return nil, err
	}
	return &Notification{Kind: kind, Channel: ChannelEmail, Recipient: to, Subject: subject, Body: body,
		State: StateQueued, NextAttemptAt: n.now()}, nil
}

// SendNow delivers queued message id at once and records the attempt: the message is
// sent, or queued for the sender's next retry. It returns nil when the message is sent
// (now or before), and the delivery's error otherwise. ENOTFOUND.
func (n *Notices) SendNow(ctx context.Context, id int64) error {
	if !n.On() {
		return errNoEmail
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var sendErr error
	err := n.InTx(ctx, func(st NoticeStore) error {
		m, err := st.LockNotification(ctx, id)
		if err != nil {
			return err
		}
		if m.State == StateSent {
			return nil
		}
		sendCtx, cancel := context.WithTimeout(ctx, timeout)
		pid, serr := n.Email.Send(sendCtx, m)
		cancel()
		if serr != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		a := Attempt{At: n.now(), NotificationID: m.ID, Attempt: m.Attempts + 1, Channel: m.Channel,
			Recipient: m.Recipient, OK: serr == nil, ProviderID: clip(pid, 200)}
		state, next := StateSent, time.Time{}
		if serr != nil {
			a.Error = errorText(serr, sendCtx)
			// A notice that must go is never given up: it stays queued for the sender's
			// retries, whatever the attempt count.
			state = StateQueued
			var ok bool
			if next, ok = NextAttempt(min(a.Attempt, len(RetryDelays)), a.At); !ok {
				next = a.At.Add(RetryDelays[len(RetryDelays)-1])
			}
			sendErr = fmt.Errorf("billing: send notice %d: %w", id, serr)
		}
		return st.RecordAttempt(ctx, a, state, next)
	})
	return errors.Join(err, sendErr)
}
