using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Pages;

/// <summary>A Razor page whose handler awaits, for the request pipeline seam tests.</summary>
public sealed class SeamPageModel : PageModel
{
    public int Value { get; private set; }

    public async Task OnGetAsync(int value)
    {
        var recorder = HttpContext.RequestServices.GetRequiredService<SegmentRecorder>();
        recorder.Segment("page handler");
        await Task.Delay(1);
        recorder.Segment("page handler after await");
        Value = value;
    }
}
