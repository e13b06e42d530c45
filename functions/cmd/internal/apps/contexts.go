package apps

// contexts are the bounded contexts, in the order their functions are listed. Add one entry
// per context, e.g.
//
//	{Name: cloudapi.Name,
//	 Define: func() *funcapp.App { return cloudapi.New(cloudapi.InMemoryDeps()) },
//	 Build: func(ctx context.Context, setting func(string) string) (*funcapp.App, error) {
//		deps, err := cloudapi.Connect(ctx, setting("AzureWebJobsStorage"), setting("ServiceBusConnection"))
//		if err != nil {
//			return nil, err
//		}
//		return cloudapi.New(deps), nil
//	 }},
//
// TestRegisteredContextsAssemble (functions/cmd/assemble) checks every entry.
var contexts = []Context{}
