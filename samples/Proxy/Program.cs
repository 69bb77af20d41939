var builder = WebApplication.CreateBuilder(args);

// YARP, with the PartitionKey policy: it reads each request's key by the nodes' own rules (PartitionedHosting:Keys)
// and sends it to the node that owns the key's slot (PartitionedHosting:Cluster:Nodes), so nodes never forward.
builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .AddPartitionKeyLoadBalancing();

var app = builder.Build();

app.MapReverseProxy(proxy =>
{
    // A keyed request whose owner cannot be reached gets 503 + Retry-After, never another node.
    proxy.UsePartitionOwnerFailClosed();
    proxy.UseSessionAffinity();
    proxy.UseLoadBalancing();
    proxy.UsePassiveHealthChecks();
});

app.Run();
