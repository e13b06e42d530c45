package emulator

import "log/slog"

func openStore(dir string, ns *namespace, log *slog.Logger) (*store, error) { return nil, nil }

// store keeps accepted messages across restarts (the -data option).
type store struct{}

func (st *store) close() error { return nil }

// persist records an accepted transfer so a restart can replay it.
func (s *Server) persist(addr string, raw []byte, format uint32) {
	if s.store == nil {
		return
	}
}
