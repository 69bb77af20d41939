using Microsoft.AspNetCore.Connections.Features;
using PartitionedHosting.Transport;

namespace PartitionedHosting.Tests.Unit;

public sealed class ConnectionFeaturesTests
{
    private sealed class Connection : IConnectionIdFeature
    {
        public string ConnectionId { get; set; } = "c";
    }

    private sealed class OtherId : IConnectionIdFeature
    {
        public string ConnectionId { get; set; } = "other";
    }

    [Fact]
    public void OwnFeatures_AreTheConnection_AddedOnesAreKept_AndASetOverridesOrRemoves()
    {
        var connection = new Connection();
        var features = new ConnectionFeatures(connection, [typeof(IConnectionIdFeature)]);
        var revision = features.Revision;

        Assert.Same(connection, features.Get<IConnectionIdFeature>());
        Assert.Null(features.Get<IConnectionItemsFeature>());

        // More than the initial room, so the array grows.
        Type[] types = [typeof(byte), typeof(short), typeof(int), typeof(long), typeof(float), typeof(double), typeof(decimal), typeof(char), typeof(string), typeof(Guid), typeof(DateTime), typeof(TimeSpan)];
        var added = types.Select(type => (Type: type, Value: new object())).ToList();
        foreach (var (type, value) in added)
        {
            features[type] = value;
        }

        Assert.All(added, a => Assert.Same(a.Value, features[a.Type]));
        Assert.True(features.Revision > revision);

        var other = new OtherId();
        features.Set<IConnectionIdFeature>(other);
        Assert.Same(other, features.Get<IConnectionIdFeature>());
        Assert.Single(features, f => f.Key == typeof(IConnectionIdFeature));

        // Set to null, a feature is gone, the connection's own ones included (as FeatureCollection removes them).
        features.Set<IConnectionIdFeature>(null);
        Assert.Null(features.Get<IConnectionIdFeature>());
        Assert.DoesNotContain(features, f => f.Key == typeof(IConnectionIdFeature));
        features[added[0].Type] = null;
        Assert.Null(features[added[0].Type]);
        // The 11 added ones left; the connection's own is removed.
        Assert.Equal(added.Count - 1, features.Count());
    }
}
