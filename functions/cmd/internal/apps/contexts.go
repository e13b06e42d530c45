package apps

// contexts are the bounded contexts, in the order their functions are listed. Add one entry
// per context, e.g.
//
//	{Name: "subscriptions",
//	 Define: func() *funcapp.App { return subscriptions.App(subscriptions.Deps{}) },
//	 Build: func(ctx context.Context, setting func(string) string) (*funcapp.App, error) {
//		deps, err := subscriptions.Connect(ctx, setting)
//		if err != nil {
//			return nil, err
//		}
//		return subscriptions.App(deps), nil
//	 }},
var contexts = []Context{}
